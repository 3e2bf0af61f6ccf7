"""The platform wallet's outbox: chain intents and their signed transactions.

- `chain_intents`: one contract call the platform owes the chain (record an order, issue its
  tokens, record a refund), inserted in the transaction that needs it; unique per
  (investment, kind) so a repeated webhook or a replayed job enqueues nothing twice, and per
  (chain, sender, nonce) so a nonce carries one intent of ours.
- `chain_transactions`: every signed version of an intent's call (replacements share the
  nonce), written before the first broadcast so nothing of ours reaches the chain unrecorded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UINT256_MAX = 2**256 - 1


def _hex(column: str, size: int) -> str:
    return f"length({column}) = {2 + 2 * size} AND {column} ~ '^0x[0-9a-fA-F]+$'"


def upgrade() -> None:
    """Create chain_intents and chain_transactions."""
    op.create_table(
        "chain_intents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("investment_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("depends_on_id", sa.BigInteger(), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("sender_address", sa.String(length=42), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column(
            "call",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("revert_reason", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sends", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("replacements", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('invest', 'issue', 'refund', 'fill')", name=op.f("ck_chain_intents_kind")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'in_flight', 'succeeded', 'reverted', 'failed', 'cancelled')",
            name=op.f("ck_chain_intents_state"),
        ),
        sa.CheckConstraint(
            _hex("sender_address", 20), name=op.f("ck_chain_intents_sender_address_format")
        ),
        sa.CheckConstraint(_hex("tx_hash", 32), name=op.f("ck_chain_intents_tx_hash_format")),
        sa.CheckConstraint("nonce >= 0", name=op.f("ck_chain_intents_nonce_non_negative")),
        sa.CheckConstraint("sends >= 0", name=op.f("ck_chain_intents_sends_non_negative")),
        sa.CheckConstraint(
            "replacements >= 0", name=op.f("ck_chain_intents_replacements_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["chain_intents.id"],
            ondelete="RESTRICT",
            name=op.f("fk_chain_intents_depends_on_id_chain_intents"),
        ),
        sa.ForeignKeyConstraint(
            ["investment_id"],
            ["investments.id"],
            ondelete="RESTRICT",
            name=op.f("fk_chain_intents_investment_id_investments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_intents")),
        sa.UniqueConstraint(
            "chain_id",
            "sender_address",
            "nonce",
            name=op.f("uq_chain_intents_chain_id_sender_address_nonce"),
        ),
        sa.UniqueConstraint(
            "investment_id", "kind", name=op.f("uq_chain_intents_investment_id_kind")
        ),
    )
    op.create_index(
        op.f("ix_chain_intents_depends_on_id"), "chain_intents", ["depends_on_id"], unique=False
    )
    op.create_index(
        "ix_chain_intents_open",
        "chain_intents",
        ["id"],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'in_flight')"),
    )
    op.create_table(
        "chain_transactions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("intent_id", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column(
            "signed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("broadcast_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_hex("tx_hash", 32), name=op.f("ck_chain_transactions_tx_hash_format")),
        sa.CheckConstraint("nonce >= 0", name=op.f("ck_chain_transactions_nonce_non_negative")),
        sa.CheckConstraint("gas_limit > 0", name=op.f("ck_chain_transactions_gas_limit_positive")),
        sa.CheckConstraint(
            f"max_fee_per_gas BETWEEN 0 AND {UINT256_MAX}",
            name=op.f("ck_chain_transactions_max_fee_per_gas_uint256"),
        ),
        sa.CheckConstraint(
            f"max_priority_fee_per_gas BETWEEN 0 AND {UINT256_MAX}",
            name=op.f("ck_chain_transactions_max_priority_fee_per_gas_uint256"),
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["chain_intents.id"],
            ondelete="CASCADE",
            name=op.f("fk_chain_transactions_intent_id_chain_intents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_transactions")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_chain_transactions_tx_hash")),
    )
    op.create_index(
        op.f("ix_chain_transactions_intent_id"), "chain_transactions", ["intent_id"], unique=False
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index(op.f("ix_chain_transactions_intent_id"), table_name="chain_transactions")
    op.drop_table("chain_transactions")
    op.drop_index(
        "ix_chain_intents_open",
        table_name="chain_intents",
        postgresql_where=sa.text("state IN ('pending', 'in_flight')"),
    )
    op.drop_index(op.f("ix_chain_intents_depends_on_id"), table_name="chain_intents")
    op.drop_table("chain_intents")

"""Initial schema: the whole domain.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

State columns are VARCHAR with a named CHECK (no PostgreSQL enum types), so adding a state is
a constraint swap. Token quantities are NUMERIC(78, 0) with a uint256 range CHECK; money is
NUMERIC(38, 18). chain_events.id is the feed sequence, taken from the feed_sequence row
seeded here, never from a column default.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported, so later model changes cannot alter this revision.
UINT256 = sa.Numeric(precision=78, scale=0)

# Creation order (referenced tables first); downgrade drops in reverse.
TABLES = (
    "audit_log",
    "auth_nonces",
    "chain_events",
    "csd_holdings",
    "feed_sequence",
    "fx_rates",
    "issuers",
    "job_runs",
    "listener_blocks",
    "listener_checkpoints",
    "reconciliation_runs",
    "settlement_instructions",
    "webhook_deliveries",
    "bridge_transfers",
    "derivative_reports",
    "offerings",
    "users",
    "api_keys",
    "investors",
    "reconciliation_breaks",
    "investments",
    "investor_wallets",
    "positions",
)


def upgrade() -> None:
    """Create every table, index and constraint, and seed the feed sequence."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"], unique=False)
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(
        "ix_audit_log_entity_type_entity_id_at",
        "audit_log",
        ["entity_type", "entity_id", "at"],
        unique=False,
    )
    op.create_table(
        "auth_nonces",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "address ~ '^0x[0-9a-fA-F]{40}$'", name=op.f("ck_auth_nonces_address_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_nonces")),
        sa.UniqueConstraint("nonce", name=op.f("uq_auth_nonces_nonce")),
    )
    op.create_index(op.f("ix_auth_nonces_expires_at"), "auth_nonces", ["expires_at"], unique=False)
    op.create_table(
        "chain_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_address", sa.String(length=42), nullable=False),
        sa.Column("contract_name", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column(
            "args",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("removed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removes_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "block_hash ~ '^0x[0-9a-fA-F]{64}$'", name=op.f("ck_chain_events_block_hash_format")
        ),
        sa.CheckConstraint(
            "contract_address ~ '^0x[0-9a-fA-F]{40}$'",
            name=op.f("ck_chain_events_contract_address_format"),
        ),
        sa.CheckConstraint(
            "tx_hash ~ '^0x[0-9a-fA-F]{64}$'", name=op.f("ck_chain_events_tx_hash_format")
        ),
        sa.CheckConstraint(
            "block_number >= 0", name=op.f("ck_chain_events_block_number_non_negative")
        ),
        sa.CheckConstraint("chain_id > 0", name=op.f("ck_chain_events_chain_id_positive")),
        sa.CheckConstraint("id > 0", name=op.f("ck_chain_events_id_positive")),
        sa.CheckConstraint("log_index >= 0", name=op.f("ck_chain_events_log_index_non_negative")),
        sa.CheckConstraint(
            "removed = (removed_at IS NOT NULL)",
            name=op.f("ck_chain_events_removed_at_iff_removed"),
        ),
        sa.CheckConstraint("removes_id < id", name=op.f("ck_chain_events_removal_follows_event")),
        sa.CheckConstraint(
            "removes_id IS NULL OR removed", name=op.f("ck_chain_events_removal_is_removed")
        ),
        sa.CheckConstraint("tx_index >= 0", name=op.f("ck_chain_events_tx_index_non_negative")),
        sa.ForeignKeyConstraint(
            ["removes_id"],
            ["chain_events.id"],
            name=op.f("fk_chain_events_removes_id_chain_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
    )
    op.create_index(
        "ix_chain_events_chain_id_block_number",
        "chain_events",
        ["chain_id", "block_number"],
        unique=False,
    )
    op.create_index(
        "ix_chain_events_contract_address_id",
        "chain_events",
        ["contract_address", "id"],
        unique=False,
    )
    op.create_index(
        "ix_chain_events_contract_name_event_name_id",
        "chain_events",
        ["contract_name", "event_name", "id"],
        unique=False,
    )
    op.create_index(
        "ix_chain_events_event_name_id", "chain_events", ["event_name", "id"], unique=False
    )
    op.create_index(
        "ix_chain_events_removes_id",
        "chain_events",
        ["removes_id"],
        unique=False,
        postgresql_where=sa.text("removes_id IS NOT NULL"),
    )
    op.create_index("ix_chain_events_tx_hash", "chain_events", ["tx_hash"], unique=False)
    op.create_index(
        "uq_chain_events_live_key",
        "chain_events",
        ["chain_id", "block_hash", "tx_hash", "log_index"],
        unique=True,
        postgresql_where=sa.text("NOT removed"),
    )
    op.create_table(
        "csd_holdings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("csd", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=35), nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=False),
        sa.Column("quantity", UINT256, nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("statement_id", sa.String(length=35), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("csd IN ('euroclear', 'clearstream')", name=op.f("ck_csd_holdings_csd")),
        sa.CheckConstraint(
            "isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$'", name=op.f("ck_csd_holdings_isin_format")
        ),
        sa.CheckConstraint(
            "quantity BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_csd_holdings_quantity_uint256"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csd_holdings")),
        sa.UniqueConstraint(
            "csd",
            "account",
            "isin",
            "statement_date",
            name=op.f("uq_csd_holdings_csd_account_isin_statement_date"),
        ),
    )
    op.create_index(
        "ix_csd_holdings_isin_statement_date",
        "csd_holdings",
        ["isin", "statement_date"],
        unique=False,
    )
    op.create_table(
        "feed_sequence",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_feed_sequence_single_row")),
        sa.CheckConstraint(
            "last_value >= 0", name=op.f("ck_feed_sequence_last_value_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_sequence")),
    )
    # The one row dpo.db.feed bumps; the feed starts at 1.
    op.execute("INSERT INTO feed_sequence (id, last_value) VALUES (1, 0)")
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("base", sa.CHAR(length=3), nullable=False),
        sa.Column("quote", sa.CHAR(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=12), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("base ~ '^[A-Z]{3}$'", name=op.f("ck_fx_rates_base_format")),
        sa.CheckConstraint("quote ~ '^[A-Z]{3}$'", name=op.f("ck_fx_rates_quote_format")),
        sa.CheckConstraint("base <> quote", name=op.f("ck_fx_rates_distinct_currencies")),
        sa.CheckConstraint("rate > 0", name=op.f("ck_fx_rates_rate_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
        sa.UniqueConstraint(
            "base", "quote", "as_of", "source", name=op.f("uq_fx_rates_base_quote_as_of_source")
        ),
    )
    op.create_index(op.f("ix_fx_rates_as_of"), "fx_rates", ["as_of"], unique=False)
    op.create_table(
        "issuers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lei", sa.CHAR(length=20), nullable=True),
        sa.Column("country", sa.CHAR(length=2), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
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
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_issuers_country_format")),
        sa.CheckConstraint("lei ~ '^[A-Z0-9]{18}[0-9]{2}$'", name=op.f("ck_issuers_lei_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuers")),
        sa.UniqueConstraint("lei", name=op.f("uq_issuers_lei")),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(status = 'running') = (finished_at IS NULL)",
            name=op.f("ck_job_runs_finished_iff_done"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name=op.f("ck_job_runs_status")
        ),
        sa.CheckConstraint(
            "finished_at >= started_at", name=op.f("ck_job_runs_finishes_after_start")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_job_started_at", "job_runs", ["job", "started_at"], unique=False)
    op.create_index(
        "ix_job_runs_running",
        "job_runs",
        ["job"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "listener_blocks",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("parent_hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "hash ~ '^0x[0-9a-fA-F]{64}$'", name=op.f("ck_listener_blocks_hash_format")
        ),
        sa.CheckConstraint(
            "parent_hash ~ '^0x[0-9a-fA-F]{64}$'",
            name=op.f("ck_listener_blocks_parent_hash_format"),
        ),
        sa.CheckConstraint("chain_id > 0", name=op.f("ck_listener_blocks_chain_id_positive")),
        sa.CheckConstraint("number >= 0", name=op.f("ck_listener_blocks_number_non_negative")),
        sa.PrimaryKeyConstraint("chain_id", "number", name=op.f("pk_listener_blocks")),
    )
    op.create_table(
        "listener_checkpoints",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_processed_block", sa.BigInteger(), nullable=False),
        sa.Column("last_processed_hash", sa.String(length=66), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "last_processed_hash ~ '^0x[0-9a-fA-F]{64}$'",
            name=op.f("ck_listener_checkpoints_last_processed_hash_format"),
        ),
        sa.CheckConstraint("chain_id > 0", name=op.f("ck_listener_checkpoints_chain_id_positive")),
        sa.CheckConstraint(
            "last_processed_block >= 0",
            name=op.f("ck_listener_checkpoints_last_processed_block_non_negative"),
        ),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_listener_checkpoints")),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("positions_checked", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("breaks_opened", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("breaks_resolved", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(status = 'running') = (finished_at IS NULL)",
            name=op.f("ck_reconciliation_runs_finished_iff_done"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')",
            name=op.f("ck_reconciliation_runs_status"),
        ),
        sa.CheckConstraint(
            "breaks_opened >= 0", name=op.f("ck_reconciliation_runs_breaks_opened_non_negative")
        ),
        sa.CheckConstraint(
            "breaks_resolved >= 0", name=op.f("ck_reconciliation_runs_breaks_resolved_non_negative")
        ),
        sa.CheckConstraint(
            "finished_at >= started_at", name=op.f("ck_reconciliation_runs_finishes_after_start")
        ),
        sa.CheckConstraint(
            "positions_checked >= 0",
            name=op.f("ck_reconciliation_runs_positions_checked_non_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    op.create_index(
        op.f("ix_reconciliation_runs_started_at"),
        "reconciliation_runs",
        ["started_at"],
        unique=False,
    )
    op.create_table(
        "settlement_instructions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("csd", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=35), nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=False),
        sa.Column("quantity", UINT256, nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("counterparty", sa.String(length=35), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.Column(
            "processing_status", sa.String(length=32), server_default="pending", nullable=False
        ),
        sa.Column(
            "matching_status", sa.String(length=16), server_default="unmatched", nullable=False
        ),
        sa.Column(
            "settlement_status", sa.String(length=32), server_default="pending", nullable=False
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
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
            "csd IN ('euroclear', 'clearstream')", name=op.f("ck_settlement_instructions_csd")
        ),
        sa.CheckConstraint(
            "direction IN ('deliver', 'receive')", name=op.f("ck_settlement_instructions_direction")
        ),
        sa.CheckConstraint(
            "isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$'",
            name=op.f("ck_settlement_instructions_isin_format"),
        ),
        sa.CheckConstraint(
            "matching_status IN ('unmatched', 'matched')",
            name=op.f("ck_settlement_instructions_matching_status"),
        ),
        sa.CheckConstraint(
            "processing_status IN ('pending', 'acknowledged', 'rejected', 'repair', 'cancellation_requested', 'cancelled')",
            name=op.f("ck_settlement_instructions_processing_status"),
        ),
        sa.CheckConstraint(
            "settlement_status IN ('pending', 'failing', 'partially_settled', 'settled')",
            name=op.f("ck_settlement_instructions_settlement_status"),
        ),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_settlement_instructions_quantity_positive")
        ),
        sa.CheckConstraint(
            "quantity BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_settlement_instructions_quantity_uint256"),
        ),
        sa.CheckConstraint(
            "settlement_date >= trade_date",
            name=op.f("ck_settlement_instructions_settles_after_trade"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_instructions")),
        sa.UniqueConstraint("reference", name=op.f("uq_settlement_instructions_reference")),
    )
    op.create_index(
        "ix_settlement_instructions_isin", "settlement_instructions", ["isin"], unique=False
    )
    op.create_index(
        op.f("ix_settlement_instructions_settlement_date"),
        "settlement_instructions",
        ["settlement_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_settlement_instructions_settlement_status"),
        "settlement_instructions",
        ["settlement_status"],
        unique=False,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="received", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'ignored')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_webhook_deliveries_attempts_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "provider", "delivery_id", name=op.f("uq_webhook_deliveries_provider_delivery_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_status"), "webhook_deliveries", ["status"], unique=False
    )
    op.create_table(
        "bridge_transfers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=False),
        sa.Column("amount", UINT256, nullable=False),
        sa.Column("holder_address", sa.String(length=42), nullable=True),
        sa.Column("euroclear_account", sa.String(length=35), nullable=False),
        sa.Column("reference", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("chain_event_id", sa.BigInteger(), nullable=True),
        sa.Column("instruction_id", sa.BigInteger(), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
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
            "direction IN ('lock', 'release')", name=op.f("ck_bridge_transfers_direction")
        ),
        sa.CheckConstraint(
            "holder_address ~ '^0x[0-9a-fA-F]{40}$'",
            name=op.f("ck_bridge_transfers_holder_address_format"),
        ),
        sa.CheckConstraint(
            "isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$'", name=op.f("ck_bridge_transfers_isin_format")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'instructed', 'settled', 'failed', 'cancelled')",
            name=op.f("ck_bridge_transfers_status"),
        ),
        sa.CheckConstraint(
            "tx_hash ~ '^0x[0-9a-fA-F]{64}$'", name=op.f("ck_bridge_transfers_tx_hash_format")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_bridge_transfers_amount_positive")),
        sa.CheckConstraint(
            "amount BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_bridge_transfers_amount_uint256"),
        ),
        sa.ForeignKeyConstraint(
            ["chain_event_id"],
            ["chain_events.id"],
            name=op.f("fk_bridge_transfers_chain_event_id_chain_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instruction_id"],
            ["settlement_instructions.id"],
            name=op.f("fk_bridge_transfers_instruction_id_settlement_instructions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bridge_transfers")),
        sa.UniqueConstraint("reference", name=op.f("uq_bridge_transfers_reference")),
    )
    op.create_index(
        op.f("ix_bridge_transfers_chain_event_id"),
        "bridge_transfers",
        ["chain_event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_bridge_transfers_instruction_id"),
        "bridge_transfers",
        ["instruction_id"],
        unique=False,
    )
    op.create_index("ix_bridge_transfers_isin", "bridge_transfers", ["isin"], unique=False)
    op.create_index(
        op.f("ix_bridge_transfers_status"), "bridge_transfers", ["status"], unique=False
    )
    op.create_table(
        "derivative_reports",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("uti", sa.String(length=52), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("notional", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("counterparty_a", sa.String(length=64), nullable=False),
        sa.Column("counterparty_b", sa.String(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_event_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "action IN ('new', 'modify', 'cancel')", name=op.f("ck_derivative_reports_action")
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_derivative_reports_currency_format")
        ),
        sa.CheckConstraint(
            "notional >= 0", name=op.f("ck_derivative_reports_notional_non_negative")
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_derivative_reports_version_positive")),
        sa.ForeignKeyConstraint(
            ["chain_event_id"],
            ["chain_events.id"],
            name=op.f("fk_derivative_reports_chain_event_id_chain_events"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derivative_reports")),
        sa.UniqueConstraint(
            "uti", "action", "version", name=op.f("uq_derivative_reports_uti_action_version")
        ),
    )
    op.create_index(
        op.f("ix_derivative_reports_chain_event_id"),
        "derivative_reports",
        ["chain_event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_derivative_reports_reported_at"),
        "derivative_reports",
        ["reported_at"],
        unique=False,
    )
    op.create_index(op.f("ix_derivative_reports_uti"), "derivative_reports", ["uti"], unique=False)
    op.create_table(
        "offerings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("issuer_id", sa.BigInteger(), nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("security_type", sa.String(length=32), nullable=False),
        sa.Column("regulation", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("min_ticket", sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column("max_ticket", sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column("soft_cap", sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column("hard_cap", sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("onchain_offering_id", UINT256, nullable=True),
        sa.Column(
            "amount_raised",
            sa.Numeric(precision=38, scale=18),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("units_sold", UINT256, server_default=sa.text("0"), nullable=False),
        sa.Column(
            "allowed_countries",
            postgresql.ARRAY(sa.CHAR(length=2)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
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
            "array_to_string(allowed_countries, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$'",
            name=op.f("ck_offerings_allowed_countries_format"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_offerings_currency_format")),
        sa.CheckConstraint(
            "isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$'", name=op.f("ck_offerings_isin_format")
        ),
        sa.CheckConstraint(
            "regulation IN ('reg_d_506b', 'reg_d_506c', 'reg_s', 'reg_cf', 'reg_a')",
            name=op.f("ck_offerings_regulation"),
        ),
        sa.CheckConstraint(
            "security_type IN ('equity', 'debt', 'convertible', 'fund', 'revenue_share', 'real_estate', 'other')",
            name=op.f("ck_offerings_security_type"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'closed', 'settled', 'cancelled')",
            name=op.f("ck_offerings_status"),
        ),
        sa.CheckConstraint(
            "token_address ~ '^0x[0-9a-fA-F]{40}$'", name=op.f("ck_offerings_token_address_format")
        ),
        sa.CheckConstraint(
            "amount_raised >= 0", name=op.f("ck_offerings_amount_raised_non_negative")
        ),
        sa.CheckConstraint("hard_cap >= 0", name=op.f("ck_offerings_hard_cap_non_negative")),
        sa.CheckConstraint("max_ticket >= 0", name=op.f("ck_offerings_max_ticket_non_negative")),
        sa.CheckConstraint("min_ticket <= max_ticket", name=op.f("ck_offerings_ticket_range")),
        sa.CheckConstraint("min_ticket >= 0", name=op.f("ck_offerings_min_ticket_non_negative")),
        sa.CheckConstraint(
            "onchain_offering_id BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_offerings_onchain_offering_id_uint256"),
        ),
        sa.CheckConstraint("opens_at < closes_at", name=op.f("ck_offerings_window")),
        sa.CheckConstraint("soft_cap <= hard_cap", name=op.f("ck_offerings_cap_range")),
        sa.CheckConstraint("soft_cap >= 0", name=op.f("ck_offerings_soft_cap_non_negative")),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_offerings_unit_price_positive")),
        sa.CheckConstraint(
            "units_sold BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_offerings_units_sold_uint256"),
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["issuers.id"],
            name=op.f("fk_offerings_issuer_id_issuers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offerings")),
        sa.UniqueConstraint("isin", name=op.f("uq_offerings_isin")),
        sa.UniqueConstraint("onchain_offering_id", name=op.f("uq_offerings_onchain_offering_id")),
    )
    op.create_index(op.f("ix_offerings_issuer_id"), "offerings", ["issuer_id"], unique=False)
    op.create_index(op.f("ix_offerings_opens_at"), "offerings", ["opens_at"], unique=False)
    op.create_index(
        "ix_offerings_status_opens_at", "offerings", ["status", "opens_at"], unique=False
    )
    op.create_index(
        op.f("ix_offerings_token_address"), "offerings", ["token_address"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=16), server_default="investor", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("issuer_id", sa.BigInteger(), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
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
            "role IN ('admin', 'issuer', 'ops', 'investor')", name=op.f("ck_users_role")
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["issuers.id"],
            name=op.f("fk_users_issuer_id_issuers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_issuer_id"), "users", ["issuer_id"], unique=False)
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'issuer', 'ops', 'investor')", name=op.f("ck_api_keys_role")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"], unique=False)
    op.create_table(
        "investors",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("country", sa.CHAR(length=2), nullable=False),
        sa.Column("is_us_person", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("kyc_status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("kyc_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "accreditation_status", sa.String(length=16), server_default="none", nullable=False
        ),
        sa.Column("accreditation_expires_at", sa.DateTime(timezone=True), nullable=True),
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
            "accreditation_status IN ('none', 'pending', 'verified', 'rejected', 'expired')",
            name=op.f("ck_investors_accreditation_status"),
        ),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_investors_country_format")),
        sa.CheckConstraint(
            "kyc_status IN ('pending', 'approved', 'rejected', 'expired')",
            name=op.f("ck_investors_kyc_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_investors_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investors")),
        sa.UniqueConstraint("user_id", name=op.f("uq_investors_user_id")),
    )
    op.create_index(op.f("ix_investors_kyc_status"), "investors", ["kyc_status"], unique=False)
    op.create_index("uq_investors_email_lower", "investors", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "reconciliation_breaks",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=False),
        sa.Column("offering_id", sa.BigInteger(), nullable=True),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("ledger_qty", UINT256, nullable=True),
        sa.Column("chain_qty", UINT256, nullable=True),
        sa.Column("csd_qty", UINT256, nullable=True),
        sa.Column("difference", UINT256, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(status = 'open') = (resolved_at IS NULL)",
            name=op.f("ck_reconciliation_breaks_resolved_at_iff_closed"),
        ),
        sa.CheckConstraint(
            "isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$'", name=op.f("ck_reconciliation_breaks_isin_format")
        ),
        sa.CheckConstraint(
            "kind IN ('quantity_mismatch', 'missing_in_ledger', 'missing_on_chain', 'missing_at_csd', 'frozen_mismatch')",
            name=op.f("ck_reconciliation_breaks_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'ignored')",
            name=op.f("ck_reconciliation_breaks_status"),
        ),
        sa.CheckConstraint(
            "chain_qty BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_reconciliation_breaks_chain_qty_uint256"),
        ),
        sa.CheckConstraint(
            "csd_qty BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_reconciliation_breaks_csd_qty_uint256"),
        ),
        sa.CheckConstraint(
            "ledger_qty BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_reconciliation_breaks_ledger_qty_uint256"),
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_reconciliation_breaks_offering_id_offerings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_breaks_run_id_reconciliation_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_breaks")),
    )
    op.create_index(
        op.f("ix_reconciliation_breaks_offering_id"),
        "reconciliation_breaks",
        ["offering_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_reconciliation_breaks_run_id"), "reconciliation_breaks", ["run_id"], unique=False
    )
    op.create_index(
        "ix_reconciliation_breaks_status_first_seen_at",
        "reconciliation_breaks",
        ["status", "first_seen_at"],
        unique=False,
    )
    op.create_index(
        "uq_reconciliation_breaks_open",
        "reconciliation_breaks",
        ["isin", "holder", "kind"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "investments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("investor_id", sa.BigInteger(), nullable=False),
        sa.Column("offering_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("units", UINT256, server_default=sa.text("0"), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending_payment", nullable=False),
        sa.Column("payment_reference", sa.String(length=64), nullable=False),
        sa.Column("onchain_reference", sa.String(length=66), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_investments_currency_format")),
        sa.CheckConstraint(
            "onchain_reference ~ '^0x[0-9a-fA-F]{64}$'",
            name=op.f("ck_investments_onchain_reference_format"),
        ),
        sa.CheckConstraint(
            "state IN ('pending_payment', 'paid', 'issued', 'cancelled', 'refunded')",
            name=op.f("ck_investments_state"),
        ),
        sa.CheckConstraint(
            "tx_hash ~ '^0x[0-9a-fA-F]{64}$'", name=op.f("ck_investments_tx_hash_format")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_investments_amount_positive")),
        sa.CheckConstraint(
            "units BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_investments_units_uint256"),
        ),
        sa.ForeignKeyConstraint(
            ["investor_id"],
            ["investors.id"],
            name=op.f("fk_investments_investor_id_investors"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_investments_offering_id_offerings"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investments")),
        sa.UniqueConstraint("onchain_reference", name=op.f("uq_investments_onchain_reference")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_investments_payment_reference")),
    )
    op.create_index(
        "ix_investments_investor_id_created_at",
        "investments",
        ["investor_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_investments_offering_id_state", "investments", ["offering_id", "state"], unique=False
    )
    op.create_index(op.f("ix_investments_state"), "investments", ["state"], unique=False)
    op.create_table(
        "investor_wallets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("investor_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "address ~ '^0x[0-9a-fA-F]{40}$'", name=op.f("ck_investor_wallets_address_format")
        ),
        sa.CheckConstraint("chain_id > 0", name=op.f("ck_investor_wallets_chain_id_positive")),
        sa.ForeignKeyConstraint(
            ["investor_id"],
            ["investors.id"],
            name=op.f("fk_investor_wallets_investor_id_investors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investor_wallets")),
        sa.UniqueConstraint("address", name=op.f("uq_investor_wallets_address")),
    )
    op.create_index(
        op.f("ix_investor_wallets_investor_id"), "investor_wallets", ["investor_id"], unique=False
    )
    op.create_table(
        "positions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("holder_address", sa.String(length=42), nullable=False),
        sa.Column("offering_id", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.String(length=16), nullable=False),
        sa.Column("investor_id", sa.BigInteger(), nullable=True),
        sa.Column("quantity", UINT256, server_default=sa.text("0"), nullable=False),
        sa.Column("frozen_quantity", UINT256, server_default=sa.text("0"), nullable=False),
        sa.Column("as_of_block", sa.BigInteger(), nullable=True),
        sa.Column(
            "as_of_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "holder_address ~ '^0x[0-9a-fA-F]{40}$'",
            name=op.f("ck_positions_holder_address_format"),
        ),
        sa.CheckConstraint(
            "location IN ('onchain', 'euroclear', 'clearstream', 'ledger')",
            name=op.f("ck_positions_location"),
        ),
        sa.CheckConstraint("as_of_block >= 0", name=op.f("ck_positions_as_of_block_non_negative")),
        sa.CheckConstraint(
            "frozen_quantity <= quantity", name=op.f("ck_positions_frozen_within_quantity")
        ),
        sa.CheckConstraint(
            "frozen_quantity BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_positions_frozen_quantity_uint256"),
        ),
        sa.CheckConstraint(
            "quantity BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935",
            name=op.f("ck_positions_quantity_uint256"),
        ),
        sa.ForeignKeyConstraint(
            ["investor_id"],
            ["investors.id"],
            name=op.f("fk_positions_investor_id_investors"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_positions_offering_id_offerings"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint(
            "holder_address",
            "offering_id",
            "location",
            name=op.f("uq_positions_holder_address_offering_id_location"),
        ),
    )
    op.create_index(
        op.f("ix_positions_holder_address"), "positions", ["holder_address"], unique=False
    )
    op.create_index(op.f("ix_positions_investor_id"), "positions", ["investor_id"], unique=False)
    op.create_index(
        "ix_positions_offering_id_location", "positions", ["offering_id", "location"], unique=False
    )


def downgrade() -> None:
    """Drop every table; their indexes, constraints and sequences go with them."""
    for table in reversed(TABLES):
        op.drop_table(table)

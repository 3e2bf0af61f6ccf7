"""Chain intents wait for confirmations: the `mined` state and the block hash of the receipt.

An intent whose transaction is mined is not final: a reorg can take the block. It stays
`mined`, with the hash of the block that held its receipt, until the block is
SENDER_CONFIRMATIONS deep and still the chain's block at that height, or the listener holds its
event (docs/SENDER.md). The open-intents index covers `mined`, and chain_events gets an index
on the event's investmentRef, which is how the sender finds the listener's event of an intent.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'pending', 'in_flight', 'succeeded', 'reverted', 'failed', 'cancelled'"
REF_INDEX_WHERE = "args ? 'investmentRef'"


def _states(states: str, open_states: str) -> None:
    op.drop_constraint(op.f("ck_chain_intents_state"), "chain_intents", type_="check")
    op.create_check_constraint(
        op.f("ck_chain_intents_state"), "chain_intents", f"state IN ({states})"
    )
    op.drop_index("ix_chain_intents_open", table_name="chain_intents")
    op.create_index(
        "ix_chain_intents_open",
        "chain_intents",
        ["id"],
        unique=False,
        postgresql_where=sa.text(f"state IN ({open_states})"),
    )


def upgrade() -> None:
    """Add the mined state, the receipt's block hash and the investmentRef index."""
    _states(
        "'pending', 'in_flight', 'mined', 'succeeded', 'reverted', 'failed', 'cancelled'",
        "'pending', 'in_flight', 'mined'",
    )
    op.add_column("chain_intents", sa.Column("block_hash", sa.String(length=66), nullable=True))
    op.create_check_constraint(
        op.f("ck_chain_intents_block_hash_format"),
        "chain_intents",
        "length(block_hash) = 66 AND block_hash ~ '^0x[0-9a-fA-F]+$'",
    )
    op.create_index(
        "ix_chain_events_investment_ref",
        "chain_events",
        [sa.text("(args ->> 'investmentRef')")],
        unique=False,
        postgresql_where=sa.text(REF_INDEX_WHERE),
    )


def downgrade() -> None:
    """Back to 0011: mined intents count as in flight again (their receipts are re-read)."""
    op.drop_index(
        "ix_chain_events_investment_ref",
        table_name="chain_events",
        postgresql_where=sa.text(REF_INDEX_WHERE),
    )
    op.execute("UPDATE chain_intents SET state = 'in_flight' WHERE state = 'mined'")
    op.drop_constraint(op.f("ck_chain_intents_block_hash_format"), "chain_intents", type_="check")
    op.drop_column("chain_intents", "block_hash")
    _states(STATES, "'pending', 'in_flight'")

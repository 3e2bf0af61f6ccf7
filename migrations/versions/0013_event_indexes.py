"""chain_events keeps the indexes a read path uses, and its live key follows the chain's order.

Every index is written by every COPY of the listener's batches; on 500,000 real events the
old set cost 20 µs of PostgreSQL CPU and 1.6 kB of WAL per event, against 10 µs and 0.8 kB
for this one (docs/ARCHITECTURE.md, "chain_events' indexes", says which query uses which).

- The live key becomes (chain_id, block_number, log_index, block_hash) over live rows. A log
  is its block and its index in that block, so this refuses what the old key refused (and a
  second tx hash for one log, which no chain has); leading with the block number makes every
  insert land at the right edge of the index instead of at a random page (the old key led with
  a hash), and it serves the listener's block-range reads, so (chain_id, block_number) goes.
- Dropped, no query can use them: (contract_address, id) (the feed compares
  lower(contract_address)), (contract_name, event_name, id) (the contract filter ORs the name
  with the address, so no single index serves it) and (tx_hash) (nothing looks events up by
  transaction); derivative_reports' (uti) is the leading column of its unique key.

The new key is built in the migration's transaction: about 2 s per 500,000 events on a loaded
2-core machine, during which the listener's writes wait (reads go on).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("NOT removed")
DROPPED = {
    "ix_chain_events_contract_address_id": ["contract_address", "id"],
    "ix_chain_events_contract_name_event_name_id": ["contract_name", "event_name", "id"],
    "ix_chain_events_tx_hash": ["tx_hash"],
    "ix_chain_events_chain_id_block_number": ["chain_id", "block_number"],
}


def upgrade() -> None:
    """The live key in block order; the indexes no query uses dropped."""
    op.drop_index("uq_chain_events_live_key", table_name="chain_events", postgresql_where=LIVE)
    op.create_index(
        "uq_chain_events_live_key",
        "chain_events",
        ["chain_id", "block_number", "log_index", "block_hash"],
        unique=True,
        postgresql_where=LIVE,
    )
    for name in DROPPED:
        op.drop_index(name, table_name="chain_events")
    op.drop_index("ix_derivative_reports_uti", table_name="derivative_reports")


def downgrade() -> None:
    """Back to 0012's indexes."""
    op.create_index("ix_derivative_reports_uti", "derivative_reports", ["uti"], unique=False)
    for name, columns in DROPPED.items():
        op.create_index(name, "chain_events", columns, unique=False)
    op.drop_index("uq_chain_events_live_key", table_name="chain_events", postgresql_where=LIVE)
    op.create_index(
        "uq_chain_events_live_key",
        "chain_events",
        ["chain_id", "block_hash", "tx_hash", "log_index"],
        unique=True,
        postgresql_where=LIVE,
    )

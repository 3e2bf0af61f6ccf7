"""investments keeps the indexes a query uses, keyed by columns an order never changes.

The listener moves every order it issues (pending_payment | paid → issued) with an UPDATE of
state, tx_hash, paid_at, issued_at and updated_at; as state is indexed that UPDATE is not HOT,
so it writes an entry into every index of the table (docs/ARCHITECTURE.md, "investments'
indexes", says which query uses which and what each entry costs).

- Dropped: (state). No query filters by state alone where an index helps: the state filters
  come with an offering or an investor (served by their indexes), the reconciliation's
  issued orders are most of the table (a sequential scan either way), and staff's list of all
  orders of one state pages in id order, the primary key.
- (offering_id, state) becomes (offering_id, id) and (investor_id, created_at) becomes
  (investor_id, id): the offering's and the investor's orders are paged in id order (the
  index hands out the page without a sort), their totals read every row of the offering from
  the table anyway (the amounts), and no query orders or filters by created_at. No index key
  now holds a column that changes after the order is placed; the payment workers' partial
  indexes still name state in their predicates, so the listener's UPDATE stays non-HOT.

The new indexes are built first, in the migration's transaction: about 0.3 s per 100,000
orders on a loaded 2-core machine, during which writes to investments wait (reads go on);
the old ones are dropped last, so reads wait only for the commit that follows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = {
    "ix_investments_offering_id_state": ["offering_id", "state"],
    "ix_investments_investor_id_created_at": ["investor_id", "created_at"],
    "ix_investments_state": ["state"],
}
NEW = {
    "ix_investments_offering_id_id": ["offering_id", "id"],
    "ix_investments_investor_id_id": ["investor_id", "id"],
}


def upgrade() -> None:
    """Paging keys for the offering's and the investor's orders; (state) dropped."""
    for name, columns in NEW.items():
        op.create_index(name, "investments", columns, unique=False)
    for name in OLD:
        op.drop_index(name, table_name="investments")


def downgrade() -> None:
    """Back to 0013's indexes."""
    for name, columns in OLD.items():
        op.create_index(name, "investments", columns, unique=False)
    for name in NEW:
        op.drop_index(name, table_name="investments")

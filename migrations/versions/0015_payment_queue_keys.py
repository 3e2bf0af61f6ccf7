"""The payment workers' queues are keyed on `awaiting_payment`, so issuing an order is HOT.

The listener moves each order it issues (paid → issued) with one UPDATE of state, tx_hash,
paid_at, issued_at and updated_at. 0014 took `state` out of every index key, but the request
and expiry workers' partial indexes still named `state = 'pending_payment'` in their
predicates, and PostgreSQL makes an UPDATE HOT only if no column an index names (key or
predicate) changes: so each issue wrote a new entry into every index of the table.

- `awaiting_payment`, a stored generated column (state = 'pending_payment'), replaces state in
  both predicates. It changes only when an order enters or leaves pending_payment (where the
  queues must change anyway); paid → issued leaves it false, and state is then in no index.
  The workers' claims (dpo/payments/requests.py, expiry.py) filter on it to use the indexes.
- fillfactor 50 on investments: a HOT update also needs room on the row's own page.
  Orders are written once and updated a few times (payment request, paid, issued); pages
  packed full send every first update to another page, and a backfill issuing thousands of
  orders in one statement cannot prune the old versions in between.

Adding a stored column rewrites the table under an ACCESS EXCLUSIVE lock (reads and writes of
investments wait): 4.1 s for 236,844 orders on the 2-core machine at load 9. The fillfactor
applies to pages written from then on, this rewrite's included: orders not yet updated take
twice the pages (97 MB for those 236,844), which their later updates then fill.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50
DUE, EXPIRING = "ix_investments_payment_due", "ix_investments_payment_expiring"
OLD = {
    DUE: ("payment_next_attempt_at", "payment_id IS NULL AND state = 'pending_payment'"),
    EXPIRING: (
        "payment_expires_at",
        "state = 'pending_payment' AND payment_expires_at IS NOT NULL",
    ),
}
NEW = {
    DUE: ("payment_next_attempt_at", "payment_id IS NULL AND awaiting_payment"),
    EXPIRING: ("payment_expires_at", "awaiting_payment AND payment_expires_at IS NOT NULL"),
}


def _indexes(indexes: dict[str, tuple[str, str]]) -> None:
    for name, (column, where) in indexes.items():
        op.drop_index(name, table_name="investments")
        op.create_index(name, "investments", [column], postgresql_where=sa.text(where))


def upgrade() -> None:
    """The generated column, the queues' predicates on it, and room for HOT updates."""
    op.execute(f"ALTER TABLE investments SET (fillfactor = {FILLFACTOR})")
    op.add_column(
        "investments",
        sa.Column(
            "awaiting_payment",
            sa.Boolean(),
            sa.Computed("state = 'pending_payment'", persisted=True),
            nullable=False,
        ),
    )
    _indexes(NEW)


def downgrade() -> None:
    """Back to 0014: predicates on state, the column dropped, pages filled again."""
    _indexes(OLD)
    op.drop_column("investments", "awaiting_payment")
    op.execute("ALTER TABLE investments RESET (fillfactor)")

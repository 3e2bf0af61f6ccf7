"""Payment edges: expiry checked with BillBitts, and the remote cancel retried until done.

- `investments.payment_check_at`: when the expiry worker may look at an order past its
  payment's expiry again (a lease while it asks BillBitts, a backoff when BillBitts is down);
  null: never looked at. The partial index `ix_investments_payment_expiring` finds orders
  awaiting payment by their expiry.
- `investments.payment_cancel_at`, `payment_cancel_attempts`: the payment request at
  BillBitts still to be cancelled (after the investor cancelled, or an expiry BillBitts never
  announced), and when to try next; null: nothing owed. Partial index
  `ix_investments_payment_cancel_due`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRING = "state = 'pending_payment' AND payment_expires_at IS NOT NULL"
CANCEL_DUE = "payment_cancel_at IS NOT NULL"


def upgrade() -> None:
    """Add the expiry check and remote cancel columns and their indexes."""
    op.add_column(
        "investments", sa.Column("payment_check_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "investments", sa.Column("payment_cancel_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "investments",
        sa.Column(
            "payment_cancel_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_investments_payment_cancel_attempts_non_negative"),
        "investments",
        "payment_cancel_attempts >= 0",
    )
    op.create_index(
        "ix_investments_payment_expiring",
        "investments",
        ["payment_expires_at"],
        unique=False,
        postgresql_where=sa.text(EXPIRING),
    )
    op.create_index(
        "ix_investments_payment_cancel_due",
        "investments",
        ["payment_cancel_at"],
        unique=False,
        postgresql_where=sa.text(CANCEL_DUE),
    )


def downgrade() -> None:
    """Back to 0010."""
    op.drop_index(
        "ix_investments_payment_cancel_due",
        table_name="investments",
        postgresql_where=sa.text(CANCEL_DUE),
    )
    op.drop_index(
        "ix_investments_payment_expiring",
        table_name="investments",
        postgresql_where=sa.text(EXPIRING),
    )
    op.drop_constraint(
        op.f("ck_investments_payment_cancel_attempts_non_negative"), "investments", type_="check"
    )
    for column in ("payment_cancel_attempts", "payment_cancel_at", "payment_check_at"):
        op.drop_column("investments", column)

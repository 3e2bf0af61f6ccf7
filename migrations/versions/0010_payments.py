"""Payments: an order's BillBitts payment request, and retrying it while BillBitts is down.

- `investments.payment_id`, `payment_url`, `payment_expires_at`: the payment request (its id at
  BillBitts, the hosted page the investor pays on, when it expires), set once it exists.
- `investments.payment_status`: BillBitts' view of the payment (the last event applied:
  pending, paid, failed, expired, refunded); tells a cancellation by an expired or failed
  payment from one by the investor (dpo/payments/states.py).
- `investments.payment_attempts`, `payment_next_attempt_at`, `payment_error`: an order whose
  request could not be made at submit time is asked for again, with backoff, by the payment
  request worker; the partial index `ix_investments_payment_due` finds those orders.
- `webhook_deliveries` (revision 0001) stores and de-duplicates the webhooks; unchanged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'pending', 'paid', 'failed', 'expired', 'refunded'"


def upgrade() -> None:
    """Add the payment request's columns, checks and the due index."""
    op.add_column("investments", sa.Column("payment_id", sa.String(length=64), nullable=True))
    op.add_column("investments", sa.Column("payment_url", sa.String(length=2048), nullable=True))
    op.add_column(
        "investments", sa.Column("payment_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("investments", sa.Column("payment_status", sa.String(length=16), nullable=True))
    op.add_column(
        "investments",
        sa.Column("payment_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "investments",
        sa.Column(
            "payment_next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
        ),
    )
    op.add_column("investments", sa.Column("payment_error", sa.String(length=300), nullable=True))
    op.create_unique_constraint(op.f("uq_investments_payment_id"), "investments", ["payment_id"])
    op.create_check_constraint(
        op.f("ck_investments_payment_status"), "investments", f"payment_status IN ({STATUSES})"
    )
    op.create_check_constraint(
        op.f("ck_investments_payment_attempts_non_negative"), "investments", "payment_attempts >= 0"
    )
    op.create_index(
        "ix_investments_payment_due",
        "investments",
        ["payment_next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("payment_id IS NULL AND state = 'pending_payment'"),
    )


def downgrade() -> None:
    """Back to 0009: the payment request's columns are dropped."""
    op.drop_index(
        "ix_investments_payment_due",
        table_name="investments",
        postgresql_where=sa.text("payment_id IS NULL AND state = 'pending_payment'"),
    )
    op.drop_constraint(
        op.f("ck_investments_payment_attempts_non_negative"), "investments", type_="check"
    )
    op.drop_constraint(op.f("ck_investments_payment_status"), "investments", type_="check")
    op.drop_constraint(op.f("uq_investments_payment_id"), "investments", type_="unique")
    for column in (
        "payment_error",
        "payment_next_attempt_at",
        "payment_attempts",
        "payment_status",
        "payment_expires_at",
        "payment_url",
        "payment_id",
    ):
        op.drop_column("investments", column)

"""Audit rows carry the client address; an investor's e-mail is no longer unique.

- `audit_log.client_address`: every audited action records where it came from, next to the
  request id (the web layer's view of the caller's address: docs/SECURITY.md).
- `uq_investors_email_lower` becomes the plain index `ix_investors_email_lower`. An investor's
  e-mail is contact data, not an identity (wallets sign in, KYC establishes the person): a
  unique e-mail let anyone with a fresh wallet learn whether an address belongs to a customer
  (registerInvestor / updateProfile answered CONFLICT) and squat a victim's address.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add audit_log.client_address; make the investors' e-mail index non-unique."""
    op.add_column("audit_log", sa.Column("client_address", sa.String(length=64), nullable=True))
    op.drop_index("uq_investors_email_lower", table_name="investors")
    op.create_index(
        "ix_investors_email_lower", "investors", [sa.text("lower(email)")], unique=False
    )


def downgrade() -> None:
    """Back to 0007 (fails if two investors now share an e-mail: resolve those first)."""
    op.drop_index("ix_investors_email_lower", table_name="investors")
    op.create_index("uq_investors_email_lower", "investors", [sa.text("lower(email)")], unique=True)
    op.drop_column("audit_log", "client_address")

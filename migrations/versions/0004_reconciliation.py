"""Reconciliation: CSD accounts mapped to holders, break revisions, projection breaks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "'quantity_mismatch', 'missing_in_ledger', 'missing_on_chain', 'missing_at_csd', "
    "'frozen_mismatch'"
)


def upgrade() -> None:
    """Add csd_accounts, break_revision and reconciliation_breaks.revision; a new break kind."""
    op.create_table(
        "csd_accounts",
        sa.Column("csd", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=35), nullable=False),
        sa.Column("holder_address", sa.String(length=42), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("csd IN ('euroclear', 'clearstream')", name=op.f("ck_csd_accounts_csd")),
        sa.CheckConstraint(
            "holder_address ~ '^0x[0-9a-fA-F]{40}$'",
            name=op.f("ck_csd_accounts_holder_address_format"),
        ),
        sa.PrimaryKeyConstraint("csd", "account", name=op.f("pk_csd_accounts")),
    )
    op.create_index(
        "ix_csd_accounts_holder_address", "csd_accounts", ["holder_address"], unique=False
    )
    op.create_table(
        "break_revision",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_break_revision_single_row")),
        sa.CheckConstraint(
            "last_value >= 0", name=op.f("ck_break_revision_last_value_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_revision")),
    )
    op.execute("INSERT INTO break_revision (id, last_value) VALUES (1, 0)")
    op.add_column(
        "reconciliation_breaks",
        sa.Column("revision", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_index(
        op.f("ix_reconciliation_breaks_revision"),
        "reconciliation_breaks",
        ["revision"],
        unique=False,
    )
    op.drop_constraint(
        op.f("ck_reconciliation_breaks_kind"), "reconciliation_breaks", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_reconciliation_breaks_kind"),
        "reconciliation_breaks",
        f"kind IN ({KINDS}, 'projection_mismatch')",
    )


def downgrade() -> None:
    """Drop what upgrade added; projection breaks go with their kind."""
    op.execute("DELETE FROM reconciliation_breaks WHERE kind = 'projection_mismatch'")
    op.drop_constraint(
        op.f("ck_reconciliation_breaks_kind"), "reconciliation_breaks", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_reconciliation_breaks_kind"), "reconciliation_breaks", f"kind IN ({KINDS})"
    )
    op.drop_index(op.f("ix_reconciliation_breaks_revision"), table_name="reconciliation_breaks")
    op.drop_column("reconciliation_breaks", "revision")
    op.drop_table("break_revision")
    op.drop_index("ix_csd_accounts_holder_address", table_name="csd_accounts")
    op.drop_table("csd_accounts")

"""Provider data: Xetra instrument prices, Clearstream PMI ISIN requests, offerings without ISIN.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ISIN = "'^[A-Z]{2}[A-Z0-9]{9}[0-9]$'"


def upgrade() -> None:
    """instrument_prices and isin_requests; offerings.isin may be null until allocated."""
    op.create_table(
        "instrument_prices",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("venue", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("price", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(f"isin ~ {ISIN}", name=op.f("ck_instrument_prices_isin_format")),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_instrument_prices_currency_format")
        ),
        sa.CheckConstraint("price > 0", name=op.f("ck_instrument_prices_price_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_prices")),
        sa.UniqueConstraint(
            "isin", "source", "as_of", name=op.f("uq_instrument_prices_isin_source_as_of")
        ),
    )
    op.create_index(
        "ix_instrument_prices_isin_as_of", "instrument_prices", ["isin", "as_of"], unique=False
    )
    op.create_table(
        "isin_requests",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("offering_id", sa.BigInteger(), nullable=False),
        sa.Column("request_ref", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("isin", sa.CHAR(length=12), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
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
        sa.CheckConstraint(f"isin ~ {ISIN}", name=op.f("ck_isin_requests_isin_format")),
        sa.CheckConstraint(
            "status IN ('pending', 'allocated', 'rejected')",
            name=op.f("ck_isin_requests_status_valid"),
        ),
        sa.CheckConstraint(
            "(status = 'allocated') = (isin IS NOT NULL)",
            name=op.f("ck_isin_requests_isin_iff_allocated"),
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            ondelete="CASCADE",
            name=op.f("fk_isin_requests_offering_id_offerings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_isin_requests")),
        sa.UniqueConstraint("offering_id", name=op.f("uq_isin_requests_offering_id")),
        sa.UniqueConstraint("request_ref", name=op.f("uq_isin_requests_request_ref")),
    )
    op.alter_column("offerings", "isin", existing_type=sa.CHAR(length=12), nullable=True)


def downgrade() -> None:
    """Back to 0006; offerings still without an ISIN cannot be kept and stop the downgrade."""
    op.alter_column("offerings", "isin", existing_type=sa.CHAR(length=12), nullable=False)
    op.drop_table("isin_requests")
    op.drop_index("ix_instrument_prices_isin_as_of", table_name="instrument_prices")
    op.drop_table("instrument_prices")

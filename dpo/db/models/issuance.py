"""Issuers and their offerings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dpo.db.base import MONEY, UINT256, Base, Timestamped
from dpo.db.models import checks
from dpo.db.models.enums import IsinRequestStatus, OfferingStatus, Regulation, SecurityType


class Issuer(Timestamped, Base):
    """A company raising money through offerings."""

    __tablename__ = "issuers"
    __table_args__ = (
        checks.matches("country", checks.COUNTRY_RE),
        checks.matches("lei", "^[A-Z0-9]{18}[0-9]{2}$"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lei: Mapped[str | None] = mapped_column(CHAR(20), unique=True)
    country: Mapped[str | None] = mapped_column(CHAR(2))
    website: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(320))

    offerings: Mapped[list[Offering]] = relationship(back_populates="issuer", lazy="raise")


class Offering(Timestamped, Base):
    """A security offered for subscription, optionally backed by an on-chain offering."""

    __tablename__ = "offerings"
    __table_args__ = (
        checks.matches("isin", checks.ISIN_RE),
        checks.matches("currency", checks.CURRENCY_RE),
        checks.address("token_address"),
        checks.one_of("status", OfferingStatus),
        checks.one_of("regulation", Regulation),
        checks.one_of("security_type", SecurityType),
        checks.positive("unit_price"),
        checks.non_negative("min_ticket"),
        checks.non_negative("max_ticket"),
        checks.non_negative("soft_cap"),
        checks.non_negative("hard_cap"),
        checks.non_negative("amount_raised"),
        checks.uint256("units_sold"),
        checks.uint256("onchain_offering_id"),
        CheckConstraint("min_ticket <= max_ticket", name="ticket_range"),
        CheckConstraint("soft_cap <= hard_cap", name="cap_range"),
        CheckConstraint("opens_at < closes_at", name="window"),
        # An empty list means no restriction beyond the regulation's own.
        CheckConstraint(
            "array_to_string(allowed_countries, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$'",
            name="allowed_countries_format",
        ),
        Index("ix_offerings_status_opens_at", "status", "opens_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(
        ForeignKey("issuers.id", ondelete="RESTRICT"), index=True
    )
    # None until Clearstream's primary-market issuance desk allocates one (IsinRequest).
    isin: Mapped[str | None] = mapped_column(CHAR(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    symbol: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    security_type: Mapped[str] = mapped_column(String(32))
    regulation: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(CHAR(3))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    min_ticket: Mapped[Decimal | None] = mapped_column(MONEY)
    max_ticket: Mapped[Decimal | None] = mapped_column(MONEY)
    soft_cap: Mapped[Decimal | None] = mapped_column(MONEY)
    hard_cap: Mapped[Decimal | None] = mapped_column(MONEY)
    opens_at: Mapped[datetime | None] = mapped_column(index=True)
    closes_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), server_default=OfferingStatus.DRAFT.value)
    token_address: Mapped[str | None] = mapped_column(String(42), index=True)
    onchain_offering_id: Mapped[int | None] = mapped_column(UINT256, unique=True)
    amount_raised: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    units_sold: Mapped[int] = mapped_column(UINT256, server_default=text("0"))
    allowed_countries: Mapped[list[str]] = mapped_column(
        ARRAY(CHAR(2)), server_default=text("'{}'")
    )

    issuer: Mapped[Issuer] = relationship(back_populates="offerings", lazy="raise")


class IsinRequest(Timestamped, Base):
    """Our request to Clearstream PMI for an offering's ISIN, keyed by our reference."""

    __tablename__ = "isin_requests"
    __table_args__ = (
        checks.matches("isin", checks.ISIN_RE),
        checks.one_of("status", IsinRequestStatus, name="status_valid"),
        CheckConstraint("(status = 'allocated') = (isin IS NOT NULL)", name="isin_iff_allocated"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    offering_id: Mapped[int] = mapped_column(
        ForeignKey("offerings.id", ondelete="CASCADE"), unique=True
    )
    # What Clearstream de-duplicates on: asking again never allocates a second ISIN.
    request_ref: Mapped[str] = mapped_column(String(35), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    isin: Mapped[str | None] = mapped_column(CHAR(12))
    reason: Mapped[str | None] = mapped_column(Text)

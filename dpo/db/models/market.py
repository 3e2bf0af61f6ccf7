"""Foreign-exchange reference rates and instrument prices."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import MONEY, RATE, Base
from dpo.db.models import checks


class FxRate(Base):
    """How many units of `quote` one unit of `base` buys on a day, per source."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("base", "quote", "as_of", "source"),
        checks.matches("base", checks.CURRENCY_RE),
        checks.matches("quote", checks.CURRENCY_RE),
        checks.positive("rate"),
        CheckConstraint("base <> quote", name="distinct_currencies"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    base: Mapped[str] = mapped_column(CHAR(3))
    quote: Mapped[str] = mapped_column(CHAR(3))
    rate: Mapped[Decimal] = mapped_column(RATE)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    source: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InstrumentPrice(Base):
    """A price of an instrument (by ISIN) at a time, per source (Xetra)."""

    __tablename__ = "instrument_prices"
    __table_args__ = (
        UniqueConstraint("isin", "source", "as_of"),
        checks.matches("isin", checks.ISIN_RE),
        checks.matches("currency", checks.CURRENCY_RE),
        checks.positive("price"),
        Index("ix_instrument_prices_isin_as_of", "isin", "as_of"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    isin: Mapped[str] = mapped_column(CHAR(12))
    source: Mapped[str] = mapped_column(String(32))
    venue: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(CHAR(3))
    price: Mapped[Decimal] = mapped_column(MONEY)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

"""Derivative trade reports emitted by the DerivativesReporter contract."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CHAR,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import MONEY, Base
from dpo.db.models import checks
from dpo.db.models.enums import ReportAction


class DerivativeReport(Base):
    """One report of a trade (UTI): new, then modifications, then perhaps a cancel."""

    __tablename__ = "derivative_reports"
    __table_args__ = (
        UniqueConstraint("uti", "action", "version"),
        checks.one_of("action", ReportAction),
        checks.matches("currency", checks.CURRENCY_RE),
        checks.non_negative("notional"),
        checks.positive("version"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # ISO 23897 UTIs are at most 52 characters.
    # Looked up through the unique key, whose leading column it is.
    uti: Mapped[str] = mapped_column(String(52))
    action: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    product: Mapped[str] = mapped_column(String(64))
    notional: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(CHAR(3))
    counterparty_a: Mapped[str] = mapped_column(String(64))
    counterparty_b: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(index=True)
    chain_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("chain_events.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

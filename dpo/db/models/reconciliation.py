"""Reconciliation of ledger, chain and CSD positions: runs and the breaks they find."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dpo.db.base import UINT256, Base, IntNumeric
from dpo.db.models import checks
from dpo.db.models.enums import BreakKind, BreakStatus, RunStatus

_COUNTS = ("positions_checked", "breaks_opened", "breaks_resolved")


class ReconciliationRun(Base):
    """One pass comparing positions across the ledger, the chain and the CSDs."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        checks.one_of("status", RunStatus),
        *(checks.non_negative(column) for column in _COUNTS),
        CheckConstraint("(status = 'running') = (finished_at IS NULL)", name="finished_iff_done"),
        CheckConstraint("finished_at >= started_at", name="finishes_after_start"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), server_default=RunStatus.RUNNING.value)
    positions_checked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    breaks_opened: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    breaks_resolved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)


class ReconciliationBreak(Base):
    """A disagreement between locations for one holder of one instrument."""

    __tablename__ = "reconciliation_breaks"
    __table_args__ = (
        checks.one_of("kind", BreakKind),
        checks.one_of("status", BreakStatus),
        checks.matches("isin", checks.ISIN_RE),
        checks.uint256("ledger_qty"),
        checks.uint256("chain_qty"),
        checks.uint256("csd_qty"),
        CheckConstraint("(status = 'open') = (resolved_at IS NULL)", name="resolved_at_iff_closed"),
        # At most one open break per (instrument, holder, kind); closed ones are history.
        Index(
            "uq_reconciliation_breaks_open",
            "isin",
            "holder",
            "kind",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_reconciliation_breaks_status_first_seen_at", "status", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The run that first saw the break; later runs update last_seen_at.
    run_id: Mapped[int] = mapped_column(
        ForeignKey("reconciliation_runs.id", ondelete="RESTRICT"), index=True
    )
    isin: Mapped[str] = mapped_column(CHAR(12))
    offering_id: Mapped[int | None] = mapped_column(
        ForeignKey("offerings.id", ondelete="SET NULL"), index=True
    )
    # An address for ledger/chain positions, a CSD account for CSD-only breaks.
    holder: Mapped[str] = mapped_column(String(64))
    ledger_qty: Mapped[int | None] = mapped_column(UINT256)
    chain_qty: Mapped[int | None] = mapped_column(UINT256)
    csd_qty: Mapped[int | None] = mapped_column(UINT256)
    # Signed; NUMERIC keeps the sign outside its 78 digits, so ±(2**256 - 1) fits.
    difference: Mapped[int] = mapped_column(IntNumeric(78))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default=BreakStatus.OPEN.value)
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # The change counter's value when this break last changed (opened, updated, closed):
    # subscribers follow `revision > N`, which, unlike a timestamp, is visible in order.
    revision: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), index=True)

    run: Mapped[ReconciliationRun] = relationship(lazy="raise")


class BreakRevision(Base):
    """The single row holding the last break revision handed out (see dpo.reconciliation)."""

    __tablename__ = "break_revision"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        checks.non_negative("last_value"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))

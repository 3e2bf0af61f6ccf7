"""What the CSDs say we hold (semt.002), what we instructed them (sese.023/024), the bridge."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import UINT256, Base, Timestamped
from dpo.db.models import checks
from dpo.db.models.enums import (
    BridgeDirection,
    BridgeStatus,
    Csd,
    MatchingStatus,
    ProcessingStatus,
    SettlementDirection,
    SettlementStatus,
)


class CsdHolding(Base):
    """One line of a semt.002 statement of holdings: an account's balance of an ISIN on a day."""

    __tablename__ = "csd_holdings"
    __table_args__ = (
        UniqueConstraint("csd", "account", "isin", "statement_date"),
        checks.one_of("csd", Csd),
        checks.matches("isin", checks.ISIN_RE),
        checks.uint256("quantity"),
        Index("ix_csd_holdings_isin_statement_date", "isin", "statement_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    csd: Mapped[str] = mapped_column(String(16))
    # ISO 20022 Max35Text identifiers.
    account: Mapped[str] = mapped_column(String(35))
    isin: Mapped[str] = mapped_column(CHAR(12))
    quantity: Mapped[int] = mapped_column(UINT256)
    statement_date: Mapped[date] = mapped_column(Date)
    statement_id: Mapped[str | None] = mapped_column(String(35))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CsdAccount(Base):
    """Whose position a CSD safekeeping account carries: how holdings meet chain holders."""

    __tablename__ = "csd_accounts"
    __table_args__ = (
        checks.one_of("csd", Csd),
        checks.address("holder_address"),
        Index("ix_csd_accounts_holder_address", "holder_address"),
    )

    csd: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(35), primary_key=True)
    holder_address: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SettlementInstruction(Timestamped, Base):
    """A sese.023 instruction we sent, with the latest sese.024 status."""

    __tablename__ = "settlement_instructions"
    __table_args__ = (
        checks.one_of("csd", Csd),
        checks.one_of("direction", SettlementDirection),
        checks.one_of("processing_status", ProcessingStatus),
        checks.one_of("matching_status", MatchingStatus),
        checks.one_of("settlement_status", SettlementStatus),
        checks.matches("isin", checks.ISIN_RE),
        checks.positive("quantity"),
        checks.uint256("quantity"),
        CheckConstraint("settlement_date >= trade_date", name="settles_after_trade"),
        Index("ix_settlement_instructions_isin", "isin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(35), unique=True)
    csd: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(35))
    isin: Mapped[str] = mapped_column(CHAR(12))
    quantity: Mapped[int] = mapped_column(UINT256)
    direction: Mapped[str] = mapped_column(String(8))
    counterparty: Mapped[str] = mapped_column(String(35))
    trade_date: Mapped[date] = mapped_column(Date)
    settlement_date: Mapped[date] = mapped_column(Date, index=True)
    processing_status: Mapped[str] = mapped_column(
        String(32), server_default=ProcessingStatus.PENDING.value
    )
    matching_status: Mapped[str] = mapped_column(
        String(16), server_default=MatchingStatus.UNMATCHED.value
    )
    settlement_status: Mapped[str] = mapped_column(
        String(32), server_default=SettlementStatus.PENDING.value, index=True
    )
    # ISO reason code and narrative from the last sese.024.
    status_reason: Mapped[str | None] = mapped_column(Text)
    settled_at: Mapped[datetime | None]


class BridgeTransfer(Timestamped, Base):
    """Tokens locked on chain for a Euroclear credit, or released back from it."""

    __tablename__ = "bridge_transfers"
    __table_args__ = (
        checks.one_of("direction", BridgeDirection),
        checks.one_of("status", BridgeStatus),
        checks.matches("isin", checks.ISIN_RE),
        checks.address("holder_address"),
        checks.hash32("tx_hash"),
        checks.positive("amount"),
        checks.uint256("amount"),
        Index("ix_bridge_transfers_isin", "isin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))
    isin: Mapped[str] = mapped_column(CHAR(12))
    amount: Mapped[int] = mapped_column(UINT256)
    holder_address: Mapped[str | None] = mapped_column(String(42))
    euroclear_account: Mapped[str] = mapped_column(String(35))
    # The bridge contract's transfer id (bytes32 hex) or our own reference.
    reference: Mapped[str] = mapped_column(String(66), unique=True)
    status: Mapped[str] = mapped_column(
        String(16), server_default=BridgeStatus.PENDING.value, index=True
    )
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    chain_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("chain_events.id", ondelete="SET NULL"), index=True
    )
    instruction_id: Mapped[int | None] = mapped_column(
        ForeignKey("settlement_instructions.id", ondelete="SET NULL"), index=True
    )
    settled_at: Mapped[datetime | None]

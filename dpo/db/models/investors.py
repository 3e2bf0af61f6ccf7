"""Investors, their wallets and their orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    CHAR,
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dpo.db.base import MONEY, UINT256, Base, Timestamped
from dpo.db.models import checks
from dpo.db.models.enums import AccreditationStatus, InvestmentState, KycStatus, PaymentStatus

if TYPE_CHECKING:
    from dpo.db.models.issuance import Offering


class Investor(Timestamped, Base):
    """A person or entity that subscribes to offerings."""

    __tablename__ = "investors"
    __table_args__ = (
        checks.one_of("kyc_status", KycStatus),
        checks.one_of("accreditation_status", AccreditationStatus),
        checks.matches("country", checks.COUNTRY_RE),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    country: Mapped[str] = mapped_column(CHAR(2))
    is_us_person: Mapped[bool] = mapped_column(server_default=text("false"))
    kyc_status: Mapped[str] = mapped_column(
        String(16), server_default=KycStatus.PENDING.value, index=True
    )
    kyc_updated_at: Mapped[datetime | None]
    accreditation_status: Mapped[str] = mapped_column(
        String(16), server_default=AccreditationStatus.NONE.value
    )
    accreditation_expires_at: Mapped[datetime | None]

    wallets: Mapped[list[InvestorWallet]] = relationship(
        back_populates="investor", lazy="raise", passive_deletes=True
    )


class InvestorWallet(Base):
    """An address an investor controls; verified once they signed with it."""

    __tablename__ = "investor_wallets"
    __table_args__ = (
        checks.address("address"),
        checks.positive("chain_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    investor_id: Mapped[int] = mapped_column(
        ForeignKey("investors.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(42), unique=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    investor: Mapped[Investor] = relationship(back_populates="wallets", lazy="raise")


class Investment(Timestamped, Base):
    """An investor's order in an offering."""

    __tablename__ = "investments"
    __table_args__ = (
        checks.one_of("state", InvestmentState),
        checks.matches("currency", checks.CURRENCY_RE),
        checks.positive("amount"),
        checks.uint256("units"),
        checks.hash32("onchain_reference"),
        checks.hash32("tx_hash"),
        # An offering's and an investor's orders, paged in id order (migration 0014).
        Index("ix_investments_offering_id_id", "offering_id", "id"),
        Index("ix_investments_investor_id_id", "investor_id", "id"),
        checks.one_of("payment_status", PaymentStatus),
        checks.non_negative("payment_attempts"),
        # The orders still owed a payment request (dpo.payments.requests), soonest first.
        # The queues' predicates name awaiting_payment, not state, so that issuing an order
        # (paid -> issued) changes no indexed column and is a HOT update (migration 0015).
        Index(
            "ix_investments_payment_due",
            "payment_next_attempt_at",
            postgresql_where=text("payment_id IS NULL AND awaiting_payment"),
        ),
        checks.non_negative("payment_cancel_attempts"),
        # Orders awaiting payment by expiry (dpo.payments.expiry).
        Index(
            "ix_investments_payment_expiring",
            "payment_expires_at",
            postgresql_where=text("awaiting_payment AND payment_expires_at IS NOT NULL"),
        ),
        # Payment requests still to be cancelled at BillBitts (dpo.payments.remote_cancel).
        Index(
            "ix_investments_payment_cancel_due",
            "payment_cancel_at",
            postgresql_where=text("payment_cancel_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    investor_id: Mapped[int] = mapped_column(ForeignKey("investors.id", ondelete="RESTRICT"))
    offering_id: Mapped[int] = mapped_column(ForeignKey("offerings.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(CHAR(3))
    units: Mapped[int] = mapped_column(UINT256, server_default=text("0"))
    state: Mapped[str] = mapped_column(
        String(16), server_default=InvestmentState.PENDING_PAYMENT.value
    )
    # What the payment workers' queues are keyed on instead of state (migration 0015, which
    # also leaves half of each page free so that the listener's issue fits on the row's page).
    awaiting_payment: Mapped[bool] = mapped_column(
        Computed("state = 'pending_payment'", persisted=True)
    )
    payment_reference: Mapped[str] = mapped_column(String(64), unique=True)
    # bytes32 the STO contract knows the order by.
    onchain_reference: Mapped[str | None] = mapped_column(String(66), unique=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    paid_at: Mapped[datetime | None]
    issued_at: Mapped[datetime | None]
    # The BillBitts payment request: its id, hosted page and expiry, once it exists.
    payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    payment_url: Mapped[str | None] = mapped_column(String(2048))
    payment_expires_at: Mapped[datetime | None]
    payment_status: Mapped[str | None] = mapped_column(String(16))
    # Asking for the request again after BillBitts was unreachable (dpo.payments.requests).
    payment_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    payment_next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    payment_error: Mapped[str | None] = mapped_column(String(300))
    # When the expiry worker may ask BillBitts about this order again (a lease, a backoff).
    payment_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The BillBitts request still to be cancelled there: next attempt, attempts so far.
    payment_cancel_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_cancel_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    investor: Mapped[Investor] = relationship(lazy="raise")
    offering: Mapped[Offering] = relationship(lazy="raise")


# Emails compare case-insensitively, as citext would.
# Not unique: an e-mail is contact data, not an identity (migration 0008 says why).
Index("ix_investors_email_lower", func.lower(Investor.email))

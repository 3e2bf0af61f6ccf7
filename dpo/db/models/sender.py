"""The platform wallet's outbox: chain intents and the signed transactions that carry them.

An intent is one contract call the platform owes the chain (written in the same database
transaction as the state change that needs it); its transactions are every signed version
of that call (a replacement shares the nonce and has a higher fee). Each signed transaction
is stored before it is broadcast, so nothing of ours can be on chain without a row here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import UINT256, Base, Timestamped
from dpo.db.models import checks
from dpo.db.models.enums import IntentKind, IntentState


class ChainIntent(Timestamped, Base):
    """One contract call owed to the chain; (investment, kind) makes enqueueing it twice a no-op."""

    __tablename__ = "chain_intents"
    __table_args__ = (
        checks.one_of("kind", IntentKind),
        checks.one_of("state", IntentState),
        checks.address("sender_address"),
        checks.hash32("tx_hash"),
        checks.hash32("block_hash"),
        checks.non_negative("nonce"),
        checks.non_negative("sends"),
        checks.non_negative("replacements"),
        UniqueConstraint("investment_id", "kind"),
        # A nonce carries one intent of ours; a replacement is another transaction, not intent.
        UniqueConstraint("chain_id", "sender_address", "nonce"),
        Index(
            "ix_chain_intents_open",
            "id",
            postgresql_where=text("state IN ('pending', 'in_flight', 'mined')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    investment_id: Mapped[int | None] = mapped_column(
        ForeignKey("investments.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), server_default=IntentState.PENDING.value)
    # Sent only once this intent succeeded (issue after invest; refund after invest).
    depends_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("chain_intents.id", ondelete="RESTRICT"), index=True
    )
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    sender_address: Mapped[str | None] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    # The call as sent: contract address, function and arguments (for ops and audits).
    call: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    # The hash of the block its receipt was in: a reorg that takes or moves it shows here.
    block_hash: Mapped[str | None] = mapped_column(String(66))
    revert_reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    sends: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    replacements: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ChainTransaction(Base):
    """One signed transaction of an intent, stored before its first broadcast."""

    __tablename__ = "chain_transactions"
    __table_args__ = (
        checks.hash32("tx_hash"),
        checks.non_negative("nonce"),
        checks.positive("gas_limit"),
        checks.uint256("max_fee_per_gas"),
        checks.uint256("max_priority_fee_per_gas"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    intent_id: Mapped[int] = mapped_column(
        ForeignKey("chain_intents.id", ondelete="CASCADE"), index=True
    )
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[str] = mapped_column(Text)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int] = mapped_column(UINT256)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(UINT256)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    broadcast_at: Mapped[datetime | None]

"""The chain event feed and the listener's bookkeeping.

Every row of `chain_events` is one feed item and its `id` is the feed sequence: subscribers
resume with a single cursor, "items with id > N". Ids come from `dpo.db.feed`, which takes
them under a row lock held to commit, so they become visible in id order.

A reorg does not rewrite history. The listener marks the orphaned row `removed` (with
`removed_at`) so queries of current state skip it, and appends a removal item: a new row with
its own id, `removed = true`, `removes_id` pointing at the orphaned row and the same
chain/contract/event/block/tx/log fields, so cursor and filters apply to it unchanged. This is
how eth_getLogs reports removed logs. A subscriber past the original item learns of the removal
from the new item; one not yet past it sees both, in order.

Idempotent ingestion is a unique index on (chain_id, block_number, log_index, block_hash) over
live rows only (`WHERE NOT removed`; a log is its block and its index in that block): replaying
a batch inserts nothing twice, and a block that comes back after being orphaned gets a fresh row
and id, so subscribers see it again. Every index here is written by every listener batch, so
only those a query uses are kept (docs/ARCHITECTURE.md, "chain_events' indexes").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import Base
from dpo.db.models import checks

# Columns of the live-event key; pass with LIVE_EVENT_WHERE to ON CONFLICT.
LIVE_EVENT_KEY = ("chain_id", "block_number", "log_index", "block_hash")
LIVE_EVENT_WHERE = text("NOT removed")


class ChainEvent(Base):
    """A decoded contract log, or the removal of one; `id` is the feed sequence."""

    __tablename__ = "chain_events"
    __table_args__ = (
        checks.address("contract_address"),
        checks.hash32("block_hash"),
        checks.hash32("tx_hash"),
        checks.positive("chain_id"),
        checks.non_negative("block_number"),
        checks.non_negative("log_index"),
        checks.non_negative("tx_index"),
        checks.positive("id"),
        CheckConstraint("removed = (removed_at IS NOT NULL)", name="removed_at_iff_removed"),
        CheckConstraint("removes_id IS NULL OR removed", name="removal_is_removed"),
        CheckConstraint("removes_id < id", name="removal_follows_event"),
        # A log is its block and its index there; the block number leads so that the
        # listener's inserts land at the index's right edge and its block-range reads (dedup,
        # revert, rewind search) are served by this index too.
        Index(
            "uq_chain_events_live_key",
            *LIVE_EVENT_KEY,
            unique=True,
            postgresql_where=LIVE_EVENT_WHERE,
        ),
        # Feed pages filtered by event name, in id order (a rare event would scan the feed).
        Index("ix_chain_events_event_name_id", "event_name", "id"),
        # The removal items, for their foreign key's cascade; live events have no entry.
        Index(
            "ix_chain_events_removes_id",
            "removes_id",
            postgresql_where=text("removes_id IS NOT NULL"),
        ),
        # The sender finds the listener's event of an intent by its investmentRef.
        Index(
            "ix_chain_events_investment_ref",
            text("(args ->> 'investmentRef')"),
            postgresql_where=text("args ? 'investmentRef'"),
        ),
    )

    # Assigned by dpo.db.feed.next_feed_sequences, never by a column default.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract_address: Mapped[str] = mapped_column(String(42))
    contract_name: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(64))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_timestamp: Mapped[datetime | None]
    tx_hash: Mapped[str] = mapped_column(String(66))
    tx_index: Mapped[int] = mapped_column(Integer)
    log_index: Mapped[int] = mapped_column(Integer)
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    removed: Mapped[bool] = mapped_column(server_default=text("false"))
    removed_at: Mapped[datetime | None]
    removes_id: Mapped[int | None] = mapped_column(
        ForeignKey("chain_events.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FeedSequence(Base):
    """The single row holding the last feed sequence handed out."""

    __tablename__ = "feed_sequence"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        checks.non_negative("last_value"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ListenerCheckpoint(Base):
    """The last block whose events, projections and checkpoint committed together."""

    __tablename__ = "listener_checkpoints"
    __table_args__ = (
        checks.positive("chain_id"),
        checks.non_negative("last_processed_block"),
        checks.hash32("last_processed_hash"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_processed_block: Mapped[int] = mapped_column(BigInteger)
    last_processed_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Set while the listener is stopped by a reorg deeper than its window (the operator's
    # `dpo listener --rewind` clears it): shown by /api/health/ and the metrics.
    halted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    halted_reason: Mapped[str | None] = mapped_column(Text)


class ListenerBlock(Base):
    """A recent processed block, kept for the reorg window to compare parent hashes."""

    __tablename__ = "listener_blocks"
    __table_args__ = (
        checks.positive("chain_id"),
        checks.non_negative("number"),
        checks.hash32("hash"),
        checks.hash32("parent_hash"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[datetime]

"""The listener's Store on PostgreSQL: exactly-once ingestion, reverts, and the feed's doorbell.

`PgStore` is the follower's Store port (listener.ports.Store). Its writes commit first and
ring the Redis doorbell (listener.publish) after, so a subscriber told of feed ids can always
read them; Redis is only a doorbell (subscribers catch up from PostgreSQL), so a failed publish
is logged and never undoes or repeats a commit.

`ingest_batch` drops the logs already stored (live key; not asked for when the batch starts
right after the checkpoint, where none can be), reserves exactly as many feed numbers as new
rows (the feed stays gap-free: subscribers detect lost pub/sub messages by gaps), inserts the
events in (block, log index) order with ascending ids, applies the projections, keeps the
batch's block headers for the reorg window and moves the checkpoint, all in one transaction.
A few events (a block at the tip) are written in one statement, many by COPY; a batch right
after the checkpoint does not read it first (listener.store_write). The feed numbers are taken
as late as possible because they lock the feed until commit; the projections come after them
only because their rows reference the event ids. Reverts are listener.store_revert's, the
tip's reads and the halt listener.store_tip's.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.channels import Channels
from dpo.db.feed import next_feed_sequences
from listener.leader import LockHolder
from listener.metrics import observe_stage
from listener.projections import StoredEvent, apply_events
from listener.publish import publish_feed
from listener.store_place import APPLIED, existing_keys, place
from listener.store_revert import revert_to
from listener.store_rows import PreparedBatch, prepare_batch
from listener.store_tip import checkpoint, event_blocks, recent_blocks, set_halt
from listener.store_types import (
    EVENT_COLUMNS,
    Batch,
    BlockHeader,
    IngestResult,
    ReorgDetectedError,
    RevertResult,
    StoreError,
    feed_range,
    raw_connection,
)
from listener.store_write import COPY_FROM, ingest_next, write

__all__ = [
    "Batch",
    "BlockHeader",
    "IngestResult",
    "PgStore",
    "ReorgDetectedError",
    "RevertResult",
    "StoreError",
    "checkpoint",
    "feed_range",
    "ingest_batch",
    "recent_blocks",
    "revert_to",
    "set_halt",
]

logger = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]


class PgStore:
    """The Store port on PostgreSQL; `redis` None publishes nothing (tools, tests)."""

    def __init__(
        self, sessions: Sessions, *, redis: Redis | None = None, channel: str = Channels().feed
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        # The deployment's doorbell channel (dpo.channels); the default is database 0's.
        self.channel = channel

    async def checkpoint(self, chain_id: int) -> tuple[int, str] | None:
        """The last committed block (number, hash), or None before the first batch."""
        return await checkpoint(self.sessions, chain_id)

    async def recent_blocks(self, chain_id: int, limit: int) -> list[BlockHeader]:
        """The newest kept block headers, newest first."""
        return await recent_blocks(self.sessions, chain_id, limit)

    async def event_blocks(self, chain_id: int, below: int) -> list[tuple[int, str]]:
        """Blocks below `below` holding live events, newest first (a bounded search)."""
        return await event_blocks(self.sessions, chain_id, below)

    async def ingest(
        self,
        batch: Batch,
        rows: PreparedBatch,
        *,
        reorg_window: int,
        seen_at: float | None = None,
        holder: LockHolder | None = None,
    ) -> IngestResult:
        """Commit a batch (ingest_batch), then announce its feed ids (seen_at: listener.heads)."""
        result = await ingest_batch(
            self.sessions, batch, reorg_window=reorg_window, prepared=rows, holder=holder
        )
        observe_stage("committed", seen_at)
        await self.announce(batch.chain_id, result, seen_at=seen_at)
        observe_stage("published", seen_at if result.last_seq is not None else None)
        return result

    async def revert(self, chain_id: int, ancestor_number: int, ancestor_hash: str) -> RevertResult:
        """Commit a revert to the ancestor (revert_to), then announce its removal items."""
        result = await revert_to(
            self.sessions,
            chain_id=chain_id,
            ancestor_number=ancestor_number,
            ancestor_hash=ancestor_hash,
        )
        await self.announce(chain_id, result)
        return result

    async def set_halt(self, chain_id: int, reason: str | None) -> bool:
        """Record or clear the halt after a deep reorg, announced if it changed."""
        return await set_halt(
            self.sessions, chain_id, reason, redis=self.redis, channel=self.channel
        )

    async def announce(
        self, chain_id: int, result: IngestResult | RevertResult, *, seen_at: float | None = None
    ) -> None:
        """Ring the doorbell for a committed result's feed ids (none: nothing is sent)."""
        if self.redis is None or result.first_seq is None or result.last_seq is None:
            return
        try:
            await publish_feed(
                self.redis,
                channel=self.channel,
                chain_id=chain_id,
                first_seq=result.first_seq,
                last_seq=result.last_seq,
                seen_at=seen_at,
            )
        except Exception:  # Redis is only a doorbell: subscribers catch up from PostgreSQL.
            logger.warning(
                "could not publish feed items %s..%s",
                result.first_seq,
                result.last_seq,
                exc_info=True,
            )


def _reorg_window(value: int | None) -> int:
    if value is not None:
        return value
    from dpo.settings import get_settings

    return get_settings().listener_reorg_window


async def ingest_batch(
    sessions: async_sessionmaker[AsyncSession],
    batch: Batch,
    *,
    reorg_window: int | None = None,
    prepared: PreparedBatch | None = None,
    copy_from: int = COPY_FROM,
    holder: LockHolder | None = None,
) -> IngestResult:
    """Store a batch exactly once with its projections and checkpoint, in one transaction.

    `prepared` is `prepare_batch(batch)` when the caller built it ahead of time. Fewer fresh
    events than `copy_from` are written in one statement (listener.store_write), more by COPY.
    `holder`: commit only if it holds the listener lock, else raise LeadershipLostError
    (listener.leader), nothing changed.
    """
    if prepared is None:
        prepared = prepare_batch(batch)
    headers = prepared.headers
    window = _reorg_window(reorg_window)
    if len(prepared.logs) < copy_from:
        done = await ingest_next(sessions, batch, prepared, window, holder)
        if done is not None:
            return done
    last = headers[batch.to_block]
    async with sessions() as session, session.begin():
        connection = await session.connection()
        where = await place(connection, batch, headers, holder)
        if where == APPLIED:
            return IngestResult(0, None, None, len(batch.logs))
        existing = await existing_keys(connection, batch, where, len(prepared.logs))
        fresh = (
            range(len(prepared.logs))
            if not existing
            else [i for i, key in enumerate(prepared.keys) if key not in existing]
        )
        raw, tails, tip = await raw_connection(session), prepared.tails, (last.number, last.hash)
        few = len(fresh) < copy_from
        written = await write(raw, batch, window, tip, [tails[i] for i in fresh] if few else [])
        if few and written is not None:  # never None: the lock is ours, the write not gated
            ids = written
        else:
            # Late: the reservation locks the feed for every writer until this transaction ends.
            ids = await next_feed_sequences(session, len(fresh))
            await raw.copy_records_to_table(
                "chain_events",
                records=[(seq, *tails[i]) for seq, i in zip(ids, fresh, strict=True)],
                columns=EVENT_COLUMNS,
            )
        chosen = set(fresh) if existing else None
        first_id = ids[0] if fresh else 0
        position = dict(zip(fresh, ids, strict=True)) if existing else None
        events = [
            StoredEvent(
                id=first_id + i if position is None else position[i],
                log=prepared.logs[i],
                block_time=prepared.times[i],
            )
            for i in prepared.projected
            if chosen is None or i in chosen
        ]
        stats = await apply_events(connection, events)
    inserted = len(fresh)
    logger.debug(
        "stored blocks %d..%d: %d events (%d duplicates)",
        batch.from_block,
        batch.to_block,
        inserted,
        len(batch.logs) - inserted,
    )
    return IngestResult(
        inserted=inserted,
        first_seq=ids[0] if inserted else None,
        last_seq=ids[-1] if inserted else None,
        skipped_duplicates=len(batch.logs) - inserted,
        projections=stats,
    )

"""The listener's Store on PostgreSQL: exactly-once ingestion, reverts, and the feed's doorbell.

`PgStore` is the follower's Store port (listener.ports.Store). Its writes commit first and
ring the Redis doorbell (listener.publish) after, so a subscriber told of feed ids can always
read them; Redis is only a doorbell (subscribers catch up from PostgreSQL), so a failed publish
is logged and never undoes or repeats a commit.

`ingest_batch` drops the logs already stored (live key), reserves exactly as many feed numbers
as new rows (the feed stays gap-free: subscribers detect lost pub/sub messages by gaps), COPYs
the events in (block, log index) order with ascending ids, applies the projections, keeps the
batch's block headers for the reorg window and moves the checkpoint, all in one transaction.
The feed numbers are taken as late as possible because they lock the feed until commit; the
projections come after them only because their rows reference the event ids. Reverts are
listener.store_revert's, the tip's reads and the halt listener.store_tip's.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from dpo.channels import Channels
from dpo.db.feed import next_feed_sequences
from listener.metrics import observe_stage
from listener.projections import StoredEvent, apply_events
from listener.publish import publish_feed
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
    time_of,
)

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
        self, batch: Batch, rows: PreparedBatch, *, reorg_window: int, seen_at: float | None = None
    ) -> IngestResult:
        """Commit a batch (ingest_batch), then announce its feed ids (seen_at: listener.heads)."""
        result = await ingest_batch(self.sessions, batch, reorg_window=reorg_window, prepared=rows)
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


async def _already_applied(
    connection: AsyncConnection, batch: Batch, headers: dict[int, BlockHeader]
) -> bool:
    """True if the checkpoint covers the batch; raises if it covers another chain's blocks."""
    row = (
        await connection.execute(
            text(
                "SELECT last_processed_block, last_processed_hash FROM listener_checkpoints "
                "WHERE chain_id = :c FOR UPDATE"
            ),
            {"c": batch.chain_id},
        )
    ).first()
    if row is None:
        return False
    number, hash_ = int(row[0]), str(row[1])
    last = headers[batch.to_block]
    if number >= batch.to_block:
        known = (
            hash_
            if number == batch.to_block
            else (
                await connection.execute(
                    text("SELECT hash FROM listener_blocks WHERE chain_id = :c AND number = :n"),
                    {"c": batch.chain_id, "n": batch.to_block},
                )
            ).scalar_one_or_none()
        )
        if known is not None and known != last.hash:
            raise ReorgDetectedError(
                f"block {batch.to_block} was processed with hash {known}, the batch has {last.hash}"
            )
        return True
    if batch.from_block > number + 1:
        raise StoreError(f"gap: checkpoint at {number}, batch starts at {batch.from_block}")
    first = headers.get(number + 1)
    if first is not None and first.parent_hash != hash_:
        raise ReorgDetectedError(
            f"block {number + 1}'s parent {first.parent_hash} is not the checkpoint {hash_}"
        )
    return False


async def _existing_keys(connection: AsyncConnection, batch: Batch) -> set[tuple[str, str, int]]:
    rows = await connection.execute(
        text(
            "SELECT block_hash, tx_hash, log_index FROM chain_events WHERE chain_id = :c "
            "AND NOT removed AND block_number BETWEEN :a AND :b"
        ),
        {"c": batch.chain_id, "a": batch.from_block, "b": batch.to_block},
    )
    return {(str(r[0]), str(r[1]), int(r[2])) for r in rows}


async def ingest_batch(
    sessions: async_sessionmaker[AsyncSession],
    batch: Batch,
    *,
    reorg_window: int | None = None,
    prepared: PreparedBatch | None = None,
) -> IngestResult:
    """Store a batch exactly once with its projections and checkpoint, in one transaction.

    `prepared` is `prepare_batch(batch)` when the caller built it ahead of time.
    """
    if prepared is None:
        prepared = prepare_batch(batch)
    headers = prepared.headers
    window = _reorg_window(reorg_window)
    async with sessions() as session, session.begin():
        connection = await session.connection()
        if await _already_applied(connection, batch, headers):
            return IngestResult(0, None, None, len(batch.logs))
        existing = await _existing_keys(connection, batch)
        fresh = (
            range(len(prepared.logs))
            if not existing
            else [i for i, key in enumerate(prepared.keys) if key not in existing]
        )
        await _keep_blocks(connection, batch, window)
        # Late: the reservation locks the feed for every writer until this transaction ends.
        ids = await next_feed_sequences(session, len(fresh))
        if fresh:
            tails = prepared.tails
            await (await raw_connection(session)).copy_records_to_table(
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
        last = headers[batch.to_block]
        await connection.execute(
            text(
                "INSERT INTO listener_checkpoints AS c (chain_id, last_processed_block, "
                "last_processed_hash) VALUES (:c, :n, :h) ON CONFLICT (chain_id) DO UPDATE "
                "SET last_processed_block = :n, last_processed_hash = :h, updated_at = now()"
            ),
            {"c": batch.chain_id, "n": last.number, "h": last.hash},
        )
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


async def _keep_blocks(connection: AsyncConnection, batch: Batch, window: int) -> None:
    oldest = batch.to_block - window
    # A backfill range can span thousands of blocks; only the window's newest are kept.
    # One statement (one round trip): the deleted and the inserted numbers never overlap.
    kept = [b for b in batch.blocks if b.number > oldest]
    await connection.execute(
        text(
            "WITH dropped AS (DELETE FROM listener_blocks WHERE chain_id = :c "
            "AND number <= :o) "
            "INSERT INTO listener_blocks (chain_id, number, hash, parent_hash, timestamp) "
            "SELECT :c, * FROM unnest(CAST(:n AS bigint[]), CAST(:h AS varchar[]), "
            "CAST(:p AS varchar[]), CAST(:t AS timestamptz[])) "
            "ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, "
            "parent_hash = excluded.parent_hash, timestamp = excluded.timestamp"
        ),
        {
            "c": batch.chain_id,
            "o": oldest,
            "n": [b.number for b in kept],
            "h": [b.hash for b in kept],
            "p": [b.parent_hash for b in kept],
            "t": [time_of(b.timestamp) for b in kept],
        },
    )

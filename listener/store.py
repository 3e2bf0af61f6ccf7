"""Exactly-once ingestion: events, projections, reorg window and checkpoint in one transaction.

`ingest_batch` drops the logs already stored (live key), reserves exactly as many feed numbers
as new rows (the feed stays gap-free: subscribers detect lost pub/sub messages by gaps), COPYs
the events in (block, log index) order with ascending ids, applies the projections, keeps the
batch's block headers for the reorg window and moves the checkpoint, all in one transaction.
The feed numbers are taken as late as possible because they lock the feed until commit; the
projections come after them only because their rows reference the event ids.

`revert_to` undoes everything above a common ancestor in one transaction. Removal items are
appended newest first (the reverse of the original order), so a subscriber applying them one
by one walks its state back in exactly the reverse order it was built. Callers publish to
Redis (`listener.publish`) only after these functions return, i.e. after the commit.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from dpo.db.feed import next_feed_sequences
from listener.projections import StoredEvent, apply_events, revert_events
from listener.store_rows import PreparedBatch, prepare_batch
from listener.store_types import (
    EVENT_COLUMNS,
    Batch,
    BlockHeader,
    IngestResult,
    ReorgDetectedError,
    RevertResult,
    StoreError,
    event_record,
    feed_range,
    raw_connection,
    stored_event,
    time_of,
)

__all__ = [
    "Batch",
    "BlockHeader",
    "IngestResult",
    "ReorgDetectedError",
    "RevertResult",
    "StoreError",
    "checkpoint",
    "feed_range",
    "ingest_batch",
    "recent_blocks",
    "revert_to",
]

logger = logging.getLogger(__name__)


async def checkpoint(
    sessions: async_sessionmaker[AsyncSession], chain_id: int
) -> tuple[int, str] | None:
    """The last processed block (number, hash) of a chain, or None before the first batch."""
    async with sessions() as session:
        row = (await session.execute(
            text("SELECT last_processed_block, last_processed_hash FROM listener_checkpoints "
                 "WHERE chain_id = :c"), {"c": chain_id},
        )).first()
    return None if row is None else (int(row[0]), str(row[1]))


async def recent_blocks(
    sessions: async_sessionmaker[AsyncSession], chain_id: int, limit: int
) -> list[BlockHeader]:
    """The newest kept block headers of a chain, newest first."""
    async with sessions() as session:
        rows = (await session.execute(
            text("SELECT number, hash, parent_hash, timestamp FROM listener_blocks "
                 "WHERE chain_id = :c ORDER BY number DESC LIMIT :n"),
            {"c": chain_id, "n": limit},
        )).all()
    return [BlockHeader(int(r[0]), str(r[1]), str(r[2]), int(r[3].timestamp())) for r in rows]


def _reorg_window(value: int | None) -> int:
    if value is not None:
        return value
    from dpo.settings import get_settings

    return get_settings().listener_reorg_window


async def _already_applied(
    connection: AsyncConnection, batch: Batch, headers: dict[int, BlockHeader]
) -> bool:
    """True if the checkpoint covers the batch; raises if it covers another chain's blocks."""
    row = (await connection.execute(
        text("SELECT last_processed_block, last_processed_hash FROM listener_checkpoints "
             "WHERE chain_id = :c FOR UPDATE"), {"c": batch.chain_id},
    )).first()
    if row is None:
        return False
    number, hash_ = int(row[0]), str(row[1])
    last = headers[batch.to_block]
    if number >= batch.to_block:
        known = hash_ if number == batch.to_block else (await connection.execute(
            text("SELECT hash FROM listener_blocks WHERE chain_id = :c AND number = :n"),
            {"c": batch.chain_id, "n": batch.to_block},
        )).scalar_one_or_none()
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


async def _existing_keys(
    connection: AsyncConnection, batch: Batch
) -> set[tuple[str, str, int]]:
    rows = await connection.execute(
        text("SELECT block_hash, tx_hash, log_index FROM chain_events WHERE chain_id = :c "
             "AND NOT removed AND block_number BETWEEN :a AND :b"),
        {"c": batch.chain_id, "a": batch.from_block, "b": batch.to_block},
    )
    return {(str(r[0]), str(r[1]), int(r[2])) for r in rows}


async def ingest_batch(
    sessions: async_sessionmaker[AsyncSession], batch: Batch, *, reorg_window: int | None = None,
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
        fresh = range(len(prepared.logs)) if not existing else [
            i for i, key in enumerate(prepared.keys) if key not in existing]
        await _keep_blocks(connection, batch, window)
        # Late: the reservation locks the feed for every writer until this transaction ends.
        ids = await next_feed_sequences(session, len(fresh))
        if fresh:
            tails = prepared.tails
            await (await raw_connection(session)).copy_records_to_table(
                "chain_events", records=[(seq, *tails[i]) for seq, i in zip(ids, fresh,
                                                                             strict=True)],
                columns=EVENT_COLUMNS,
            )
        chosen = set(fresh) if existing else None
        first_id = ids[0] if fresh else 0
        position = dict(zip(fresh, ids, strict=True)) if existing else None
        events = [
            StoredEvent(id=first_id + i if position is None else position[i],
                        log=prepared.logs[i], block_time=prepared.times[i])
            for i in prepared.projected if chosen is None or i in chosen
        ]
        stats = await apply_events(connection, events)
        last = headers[batch.to_block]
        await connection.execute(
            text("INSERT INTO listener_checkpoints AS c (chain_id, last_processed_block, "
                 "last_processed_hash) VALUES (:c, :n, :h) ON CONFLICT (chain_id) DO UPDATE "
                 "SET last_processed_block = :n, last_processed_hash = :h, updated_at = now()"),
            {"c": batch.chain_id, "n": last.number, "h": last.hash},
        )
    inserted = len(fresh)
    logger.debug(
        "stored blocks %d..%d: %d events (%d duplicates)", batch.from_block, batch.to_block,
        inserted, len(batch.logs) - inserted,
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
        text("WITH dropped AS (DELETE FROM listener_blocks WHERE chain_id = :c "
             "AND number <= :o) "
             "INSERT INTO listener_blocks (chain_id, number, hash, parent_hash, timestamp) "
             "SELECT :c, * FROM unnest(CAST(:n AS bigint[]), CAST(:h AS varchar[]), "
             "CAST(:p AS varchar[]), CAST(:t AS timestamptz[])) "
             "ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, "
             "parent_hash = excluded.parent_hash, timestamp = excluded.timestamp"),
        {
            "c": batch.chain_id,
            "o": oldest,
            "n": [b.number for b in kept],
            "h": [b.hash for b in kept],
            "p": [b.parent_hash for b in kept],
            "t": [time_of(b.timestamp) for b in kept],
        },
    )


async def revert_to(
    sessions: async_sessionmaker[AsyncSession], *, chain_id: int, ancestor_number: int,
    ancestor_hash: str | None = None,
) -> RevertResult:
    """Remove every live event above the ancestor, revert projections, rewind the checkpoint.

    The ancestor's hash comes from `ancestor_hash` or the kept block headers.
    """
    async with sessions() as session, session.begin():
        connection = await session.connection()
        current = (await connection.execute(
            text("SELECT last_processed_block FROM listener_checkpoints WHERE chain_id = :c "
                 "FOR UPDATE"), {"c": chain_id},
        )).scalar_one_or_none()
        if current is None or int(current) <= ancestor_number:
            return RevertResult(0, None, None)
        if ancestor_hash is None:
            ancestor_hash = (await connection.execute(
                text("SELECT hash FROM listener_blocks WHERE chain_id = :c AND number = :n"),
                {"c": chain_id, "n": ancestor_number},
            )).scalar_one_or_none()
            if ancestor_hash is None:
                raise StoreError(f"block {ancestor_number} is not in the kept reorg window")
        raw = await raw_connection(session)
        rows = await raw.fetch(
            "SELECT id, chain_id, contract_address, contract_name, event_name, block_number, "
            "block_hash, block_timestamp, tx_hash, tx_index, log_index, args "
            "FROM chain_events WHERE chain_id = $1 AND block_number > $2 AND NOT removed "
            "ORDER BY block_number DESC, log_index DESC FOR UPDATE",
            chain_id, ancestor_number,
        )
        events = [stored_event(row) for row in rows]
        stats = await revert_events(connection, events)
        ids = await next_feed_sequences(session, len(events))
        if events:
            now = (await raw.fetchval("SELECT now()"))
            await raw.execute(
                "UPDATE chain_events SET removed = true, removed_at = $2 WHERE id = ANY($1)",
                [e.id for e in events], now,
            )
            await raw.copy_records_to_table(
                "chain_events",
                records=[
                    event_record(StoredEvent(seq, e.log, e.block_time), e.id, now)
                    for seq, e in zip(ids, events, strict=True)
                ],
                columns=EVENT_COLUMNS,
            )
        await connection.execute(
            text("DELETE FROM listener_blocks WHERE chain_id = :c AND number > :n"),
            {"c": chain_id, "n": ancestor_number},
        )
        await connection.execute(
            text("UPDATE listener_checkpoints SET last_processed_block = :n, "
                 "last_processed_hash = :h, updated_at = now() WHERE chain_id = :c"),
            {"c": chain_id, "n": ancestor_number, "h": ancestor_hash},
        )
    logger.warning(
        "reverted chain %d to block %d: %d events removed", chain_id, ancestor_number, len(events)
    )
    return RevertResult(
        removed=len(events),
        first_seq=ids[0] if events else None,
        last_seq=ids[-1] if events else None,
        projections=stats,
    )



"""Reverting a chain to a common ancestor in one transaction (after a reorg, or a rewind).

Every live event above the ancestor gets a removal item, appended newest first (the reverse of
the original order), so a subscriber applying them one by one walks its state back in exactly
the reverse order it was built; the projections are undone, the kept headers above the
ancestor dropped and the checkpoint moved back. The feed ids of the removal items are
announced by the caller (listener.store.PgStore.revert) only after the commit.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.feed import next_feed_sequences
from listener.projections import StoredEvent, revert_events
from listener.store_types import (
    EVENT_COLUMNS,
    RevertResult,
    StoreError,
    event_record,
    raw_connection,
    stored_event,
)

logger = logging.getLogger(__name__)


async def revert_to(
    sessions: async_sessionmaker[AsyncSession],
    *,
    chain_id: int,
    ancestor_number: int,
    ancestor_hash: str | None = None,
) -> RevertResult:
    """Remove every live event above the ancestor, revert projections, rewind the checkpoint.

    The ancestor's hash comes from `ancestor_hash` or the kept block headers.
    """
    async with sessions() as session, session.begin():
        connection = await session.connection()
        current = (
            await connection.execute(
                text(
                    "SELECT last_processed_block FROM listener_checkpoints WHERE chain_id = :c "
                    "FOR UPDATE"
                ),
                {"c": chain_id},
            )
        ).scalar_one_or_none()
        if current is None or int(current) <= ancestor_number:
            return RevertResult(0, None, None)
        if ancestor_hash is None:
            ancestor_hash = (
                await connection.execute(
                    text("SELECT hash FROM listener_blocks WHERE chain_id = :c AND number = :n"),
                    {"c": chain_id, "n": ancestor_number},
                )
            ).scalar_one_or_none()
            if ancestor_hash is None:
                raise StoreError(f"block {ancestor_number} is not in the kept reorg window")
        raw = await raw_connection(session)
        rows = await raw.fetch(
            "SELECT id, chain_id, contract_address, contract_name, event_name, block_number, "
            "block_hash, block_timestamp, tx_hash, tx_index, log_index, args "
            "FROM chain_events WHERE chain_id = $1 AND block_number > $2 AND NOT removed "
            "ORDER BY block_number DESC, log_index DESC FOR UPDATE",
            chain_id,
            ancestor_number,
        )
        events = [stored_event(row) for row in rows]
        stats = await revert_events(connection, events)
        ids = await next_feed_sequences(session, len(events))
        if events:
            now = await raw.fetchval("SELECT now()")
            await raw.execute(
                "UPDATE chain_events SET removed = true, removed_at = $2 WHERE id = ANY($1)",
                [e.id for e in events],
                now,
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
            text(
                "UPDATE listener_checkpoints SET last_processed_block = :n, "
                "last_processed_hash = :h, updated_at = now() WHERE chain_id = :c"
            ),
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

"""The SQL of a chain's tip: checkpoint, kept block headers, blocks with events, the halt.

Reads of what the follower compares with the chain (listener.tip decides what they mean),
and the halt recorded after a deep reorg: it is kept on the checkpoint row (`halted_at`,
`halted_reason`) so that every web replica shows it (/api/health/, `dpo_listener_halted`)
while the listener is down, and announced on the feed channel for `feedStatus` subscribers.
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from listener.publish import publish_status
from listener.store_types import BlockHeader

Sessions = async_sessionmaker[AsyncSession]
# Blocks with events compared with the chain to suggest a rewind point after a deep reorg.
REWIND_SEARCH = 256


async def checkpoint(sessions: Sessions, chain_id: int) -> tuple[int, str] | None:
    """The last processed block (number, hash) of a chain, or None before the first batch."""
    async with sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT last_processed_block, last_processed_hash FROM listener_checkpoints "
                    "WHERE chain_id = :c"
                ),
                {"c": chain_id},
            )
        ).first()
    return None if row is None else (int(row[0]), str(row[1]))


async def recent_blocks(sessions: Sessions, chain_id: int, limit: int) -> list[BlockHeader]:
    """The newest kept block headers of a chain, newest first."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT number, hash, parent_hash, timestamp FROM listener_blocks "
                    "WHERE chain_id = :c ORDER BY number DESC LIMIT :n"
                ),
                {"c": chain_id, "n": limit},
            )
        ).all()
    return [BlockHeader(int(r[0]), str(r[1]), str(r[2]), int(r[3].timestamp())) for r in rows]


async def event_blocks(
    sessions: Sessions, chain_id: int, below: int, *, limit: int = REWIND_SEARCH
) -> list[tuple[int, str]]:
    """Blocks below `below` holding live events, newest first (up to `limit`)."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT DISTINCT block_number, block_hash FROM chain_events "
                    "WHERE chain_id = :c AND NOT removed AND block_number < :n "
                    "ORDER BY block_number DESC LIMIT :l"
                ),
                {"c": chain_id, "n": below, "l": limit},
            )
        ).all()
    return [(int(number), str(block_hash)) for number, block_hash in rows]


async def set_halt(
    sessions: Sessions,
    chain_id: int,
    reason: str | None,
    *,
    redis: Redis | None = None,
    channel: str = "",
) -> bool:
    """Record (or, with None, clear) the stop after a deep reorg; whether the row changed.

    A change is announced on the feed channel (`redis`, `channel`) so that `feedStatus`
    subscribers hear of it at once.
    """
    async with sessions() as session, session.begin():
        result = await session.execute(
            text(
                "UPDATE listener_checkpoints SET halted_at = CASE WHEN CAST(:r AS text) IS NULL "
                "THEN NULL ELSE now() END, halted_reason = :r WHERE chain_id = :c "
                "AND halted_reason IS DISTINCT FROM :r"
            ),
            {"c": chain_id, "r": reason},
        )
    changed = bool(getattr(result, "rowcount", 0))
    if changed and redis is not None:
        await publish_status(
            redis, channel=channel, chain_id=chain_id, status="live" if reason is None else "halted"
        )
    return changed

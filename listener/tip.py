"""Our tip against the chain: the stored window, the rewind point, the halt after a deep reorg.

A reorg deeper than the kept window stops the listener (exit 1) and changes nothing, since no
common ancestor is known. The stop is recorded on the chain's checkpoint row (`halted_at`,
`halted_reason`) so that every web replica shows it (/api/health/ and `dpo_listener_halted`
on /metrics) while the listener is down, and GraphQL's `feedStatus` subscribers are told on the
feed channel; it is cleared once the listener's tip is on the chain again (after `dpo listener
--rewind`). See docs/LISTENER.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from listener import store
from listener.publish import publish_status
from listener.reorg import window

Sessions = async_sessionmaker[AsyncSession]
# Blocks with events compared with the chain to suggest a rewind point after a deep reorg.
REWIND_SEARCH = 256


async def stored_window(sessions: Sessions, chain_id: int, tip: tuple[int, str],
                        size: int) -> dict[int, str]:
    """Our kept hashes a reorg may replace: the tip and the `size` blocks below it."""
    recent = await store.recent_blocks(sessions, chain_id, size + 1)
    stored = window({b.number: b.hash for b in recent}, tip[0], size)
    stored.setdefault(tip[0], tip[1])
    return stored


async def event_blocks(sessions: Sessions, chain_id: int, below: int) -> list[tuple[int, str]]:
    """Blocks below `below` holding live events, newest first (up to REWIND_SEARCH)."""
    async with sessions() as session:
        rows = (await session.execute(text(
            "SELECT DISTINCT block_number, block_hash FROM chain_events WHERE chain_id = :c "
            "AND NOT removed AND block_number < :n ORDER BY block_number DESC LIMIT :l"),
            {"c": chain_id, "n": below, "l": REWIND_SEARCH})).all()
    return [(int(number), str(block_hash)) for number, block_hash in rows]


async def rewind_point(sessions: Sessions, chain_id: int, below: int,
                       chain_hash: Callable[[int], Awaitable[str | None]]) -> int | None:
    """The newest block below `below` whose stored events the chain still has, if any."""
    for number, block_hash in await event_blocks(sessions, chain_id, below):
        if await chain_hash(number) == block_hash:
            return number
    return None


async def set_halt(sessions: Sessions, chain_id: int, reason: str | None, *,
                   redis: Redis | None = None, channel: str = "") -> bool:
    """Record (or, with None, clear) the stop after a deep reorg; whether the row changed.

    A change is announced on the feed channel (`redis`, `channel`) so that `feedStatus`
    subscribers hear of it at once.
    """
    async with sessions() as session, session.begin():
        result = await session.execute(text(
            "UPDATE listener_checkpoints SET halted_at = CASE WHEN CAST(:r AS text) IS NULL "
            "THEN NULL ELSE now() END, halted_reason = :r WHERE chain_id = :c "
            "AND halted_reason IS DISTINCT FROM :r"), {"c": chain_id, "r": reason})
    changed = bool(getattr(result, "rowcount", 0))
    if changed and redis is not None:
        await publish_status(redis, channel=channel, chain_id=chain_id,
                             status="live" if reason is None else "halted")
    return changed

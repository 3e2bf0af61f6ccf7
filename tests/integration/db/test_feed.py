"""Feed sequence numbers: gap-free, and visible in the order they were handed out."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dpo.db.feed import next_feed_sequences
from dpo.db.models import ChainEvent
from dpo.db.session import session_factory
from tests.integration.db import factories as make


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit; the events they write are deleted afterwards."""
    async with engine.connect() as connection:
        start = await connection.scalar(text("SELECT last_value + 1 FROM feed_sequence"))
    yield session_factory(engine)
    async with engine.begin() as connection:
        await connection.execute(delete(ChainEvent).where(ChainEvent.id >= start))


async def write(sessions: async_sessionmaker[AsyncSession], n: int) -> range:
    """Take n numbers, insert one event per number and commit."""
    async with sessions() as session, session.begin():
        ids = await next_feed_sequences(session, n)
        session.add_all(make.chain_event(i) for i in ids)
    return ids


async def lock_waiters(engine: AsyncEngine) -> int:
    """How many backends of this database wait for a lock."""
    async with engine.connect() as connection:
        count = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(count or 0)


async def wait_until_blocked(engine: AsyncEngine, task: asyncio.Task[range]) -> None:
    """Return once some backend waits on a lock; fail if the task finishes first."""
    for _ in range(200):
        assert not task.done(), "the second writer did not wait for the first"
        if await lock_waiters(engine):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the second writer never blocked on the feed lock")


async def visible_ids(engine: AsyncEngine, start: int) -> list[int]:
    """Ids of committed events from `start` on, in order."""
    async with engine.connect() as connection:
        rows = await connection.scalars(
            select(ChainEvent.id).where(ChainEvent.id >= start).order_by(ChainEvent.id)
        )
        return list(rows)


async def test_zero_and_negative_counts(db: AsyncSession) -> None:
    assert await next_feed_sequences(db, 0) == range(0)
    with pytest.raises(ValueError, match="n must be"):
        await next_feed_sequences(db, -1)


async def test_consecutive_calls_continue_the_sequence(db: AsyncSession) -> None:
    first = await next_feed_sequences(db, 3)
    second = await next_feed_sequences(db, 2)
    assert len(first) == 3
    assert first.start >= 1
    assert second == range(first.stop, first.stop + 2)


async def test_second_writer_waits_for_first_commit(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as first:
        taken = await next_feed_sequences(first, 3)
        first.add_all(make.chain_event(i) for i in taken)
        await first.flush()
        second = asyncio.create_task(write(sessions, 2))
        await wait_until_blocked(engine, second)
        assert await visible_ids(engine, taken.start) == []
        await first.commit()
    later = await asyncio.wait_for(second, timeout=10)
    assert later == range(taken.stop, taken.stop + 2)
    assert await visible_ids(engine, taken.start) == list(range(taken.start, later.stop))


async def test_rolled_back_numbers_are_reused(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as first:
        taken = await next_feed_sequences(first, 2)
        second = asyncio.create_task(write(sessions, 1))
        await wait_until_blocked(engine, second)
        await first.rollback()
    later = await asyncio.wait_for(second, timeout=10)
    assert later == range(taken.start, taken.start + 1)


async def test_concurrent_writers_only_ever_show_a_prefix(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    start = (await last_handed_out(engine)) + 1
    rng = random.Random(7)

    async def writer() -> range:
        async with sessions() as session, session.begin():
            ids = await next_feed_sequences(session, rng.randint(1, 3))
            session.add_all(make.chain_event(i) for i in ids)
            # Hold the transaction open for a while, as a real batch would.
            await asyncio.sleep(rng.uniform(0.005, 0.05))
        return ids

    writers = [asyncio.create_task(writer()) for _ in range(6)]
    snapshots = 0
    async with engine.connect() as reader:
        while not all(task.done() for task in writers):
            query = select(ChainEvent.id).where(ChainEvent.id >= start).order_by(ChainEvent.id)
            seen = list(await reader.scalars(query))
            await reader.rollback()
            # A reader resuming after any id it saw must never find a lower one later.
            assert seen == list(range(start, start + len(seen)))
            snapshots += 1
    taken = sorted(await asyncio.gather(*writers), key=lambda ids: ids.start)
    assert [ids.start for ids in taken[1:]] == [ids.stop for ids in taken[:-1]]
    assert await visible_ids(engine, start) == list(range(start, taken[-1].stop))
    assert snapshots > 10


async def last_handed_out(engine: AsyncEngine) -> int:
    """The last feed number handed out so far."""
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT last_value FROM feed_sequence")) or 0)

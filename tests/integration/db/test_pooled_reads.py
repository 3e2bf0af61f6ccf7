"""Raw reads on a pooled connection held without a session (dpo.db.pooled_reads): the same
errors as through a session, the same per-connection settings, and the connection always
back in the pool (or closed) when the reads end: answered, failed or cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import exc, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dpo.db import raw_reads
from dpo.db.pooled_reads import PooledReads, pooled_reads
from dpo.db.session import create_engine, read_session_factory
from dpo.db.urls import async_url, with_database


def checked_out(engine: AsyncEngine) -> int:
    return engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
async def timed(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine whose connections are made with a 50 ms statement_timeout."""
    engine = create_async_engine(
        async_url(migrated_url), connect_args={"server_settings": {"statement_timeout": "50"}}
    )
    yield engine
    await engine.dispose()


async def test_connection_is_held_while_reading_and_given_back(engine: AsyncEngine) -> None:
    async with pooled_reads(engine) as reads:
        assert checked_out(engine) == 0  # checked out on first use only
        first = await raw_reads.scalar(reads, select(func.pg_backend_pid()))
        assert checked_out(engine) == 1
        assert await raw_reads.scalar(reads, select(func.pg_backend_pid())) == first
    assert checked_out(engine) == 0


async def test_statement_timeout_applies_and_raises_what_a_session_raises(
    timed: AsyncEngine,
) -> None:
    async with read_session_factory(timed)() as session:
        with pytest.raises(exc.DBAPIError) as through_session:
            await session.execute(select(func.pg_sleep(5)))
    async with pooled_reads(timed) as reads:
        setting = select(func.current_setting("statement_timeout"))
        assert await raw_reads.scalar(reads, setting) == "50ms"
        with pytest.raises(exc.DBAPIError) as pooled:
            await raw_reads.fetch(reads, select(func.pg_sleep(5)))
        # Not a lost connection: it stays checked out and answers the next statement.
        assert checked_out(timed) == 1
        assert await raw_reads.scalar(reads, select(literal(1))) == 1
    assert checked_out(timed) == 0
    assert type(pooled.value) is type(through_session.value)
    assert type(pooled.value.orig) is type(through_session.value.orig)
    assert str(pooled.value) == str(through_session.value)
    assert not pooled.value.connection_invalidated


async def test_killed_backend_is_invalidated_and_not_given_back(
    engine: AsyncEngine, pg_server_url: str
) -> None:
    async with pooled_reads(engine) as reads:
        pid = await raw_reads.scalar(reads, select(func.pg_backend_pid()))
        driver = (await reads.connection()).driver_connection
        assert driver is not None
        admin = await asyncpg.connect(pg_server_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(500):  # until the server's goodbye has arrived
            if driver.is_closed():
                break
            await asyncio.sleep(0.01)
        with pytest.raises(exc.DBAPIError) as caught:
            await raw_reads.fetch(reads, select(literal(1)))
        assert caught.value.connection_invalidated
        assert not reads.holding
        assert checked_out(engine) == 0
        # The next read takes another connection from the pool.
        assert await raw_reads.scalar(reads, select(func.pg_backend_pid())) != pid
    assert checked_out(engine) == 0


async def test_cancelled_read_closes_its_connection(engine: AsyncEngine) -> None:
    async with pooled_reads(engine) as reads:
        pid = await raw_reads.scalar(reads, select(func.pg_backend_pid()))
        task = asyncio.create_task(raw_reads.fetch(reads, select(func.pg_sleep(30))))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert checked_out(engine) == 0
    alive = select(func.count()).select_from(text("pg_stat_activity")).where(text(f"pid = {pid}"))
    async with pooled_reads(engine) as reads:
        for _ in range(500):
            if not await raw_reads.scalar(reads, alive):
                break
            await asyncio.sleep(0.01)
        assert await raw_reads.scalar(reads, alive) == 0
    assert checked_out(engine) == 0


async def test_block_cancelled_between_reads_gives_the_connection_back(
    engine: AsyncEngine,
) -> None:
    holding = asyncio.Event()

    async def hold() -> None:
        async with pooled_reads(engine) as reads:
            await raw_reads.scalar(reads, select(literal(1)))
            holding.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(hold())
    await holding.wait()
    assert checked_out(engine) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert checked_out(engine) == 0


async def test_failed_checkout_raises_what_a_session_raises(migrated_url: str) -> None:
    engine = create_engine(with_database(migrated_url, "dpo_no_such_database"))
    try:
        async with read_session_factory(engine)() as session:
            with pytest.raises(exc.DBAPIError) as through_session:
                await session.execute(select(literal(1)))
        reads = PooledReads(engine)
        with pytest.raises(exc.DBAPIError) as pooled:
            await raw_reads.fetch(reads, select(literal(1)))
        assert not reads.holding
    finally:
        await engine.dispose()
    assert type(pooled.value) is type(through_session.value)
    assert type(pooled.value.orig) is type(through_session.value.orig)
    assert checked_out(engine) == 0

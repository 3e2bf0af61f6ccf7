"""Raw reads (dpo.db.raw_reads) give what SQLAlchemy's execution path gives, on real rows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, event, exc, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dpo.db import raw_reads
from dpo.db.models import ChainEvent, Offering, Position
from dpo.db.session import read_session_factory
from tests.integration.db import factories

EVENTS = ChainEvent.__table__
OFFERINGS = Offering.__table__
POSITIONS = Position.__table__


async def seed(db: AsyncSession) -> Offering:
    owner = factories.offering(closes_at=factories.now(), unit_price=Decimal("10.25"))
    db.add(owner)
    await db.flush()
    db.add(factories.chain_event(9_001, args={"value": "1", "nested": {"a": [1, None, "x"]}}))
    db.add(factories.chain_event(9_002, args={}, block_timestamp=None, removes_id=None))
    db.add(factories.position(owner, quantity=2**200, as_of_time=factories.now()))
    db.add(factories.position(owner, holder_address="0x" + "cd" * 20, quantity=0))
    await db.flush()
    return owner


async def both(db: AsyncSession, statement: Any) -> tuple[list[Any], list[Any]]:
    expected = list((await db.execute(statement)).all())
    got = await raw_reads.fetch(db, statement)
    return expected, got


async def test_rows_equal_sqlalchemy_rows(db: AsyncSession) -> None:
    owner = await seed(db)
    statements = [
        select(EVENTS).where(EVENTS.c.id >= 9_001).order_by(EVENTS.c.id),
        select(OFFERINGS).where(OFFERINGS.c.id == owner.id),
        select(POSITIONS, func.sum(POSITIONS.c.quantity).over().label("_total"))
        .where(POSITIONS.c.offering_id == owner.id)
        .order_by(POSITIONS.c.id)
        .limit(5),
        select(EVENTS).where(EVENTS.c.id == -1),
    ]
    for statement in statements:
        expected, got = await both(db, statement)
        assert [tuple(r) for r in got] == [tuple(r) for r in expected]
        assert [r._mapping for r in got] == [dict(r._mapping) for r in expected]
        for mine, theirs in zip(got, expected, strict=True):
            assert [type(v) for v in mine] == [type(v) for v in theirs]
            assert mine.id == theirs.id


async def _through_sqlalchemy(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.execute(statement)).all())


Read = Callable[[AsyncSession, Any], Awaitable[list[Any]]]
PATHS: list[Read] = [raw_reads.fetch, _through_sqlalchemy]


async def _timed_out(engine: AsyncEngine, read: Read) -> exc.DBAPIError:
    async with read_session_factory(engine)() as session:
        await session.execute(text("SET statement_timeout = 50"))
        with pytest.raises(exc.DBAPIError) as caught:
            await read(session, select(func.pg_sleep(5)))
        # Not a lost connection: it stays in the pool and answers the next statement.
        assert await raw_reads.scalar(session, select(literal(1))) == 1
        await session.execute(text("RESET statement_timeout"))
    return caught.value


async def test_statement_timeout_raises_what_sqlalchemy_raises(engine: AsyncEngine) -> None:
    raw, previous = [await _timed_out(engine, read) for read in PATHS]
    assert type(raw) is type(previous)
    assert type(raw.orig) is type(previous.orig)
    assert str(raw) == str(previous)
    assert not raw.connection_invalidated


async def _killed(engine: AsyncEngine, server_url: str, read: Read) -> exc.DBAPIError:
    async with read_session_factory(engine)() as session:
        pid = await raw_reads.scalar(session, select(func.pg_backend_pid()))
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        assert driver is not None
        admin = await asyncpg.connect(server_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(500):  # until the server's goodbye has arrived
            if driver.is_closed():
                break
            await asyncio.sleep(0.01)
        with pytest.raises(exc.DBAPIError) as caught:
            await read(session, select(EVENTS).limit(1))
    # The dead connection was invalidated: the pool's next one answers.
    async with read_session_factory(engine)() as session:
        assert await raw_reads.scalar(session, select(func.pg_backend_pid())) != pid
    return caught.value


async def test_killed_backend_is_invalidated_as_sqlalchemy_does(
    engine: AsyncEngine, pg_server_url: str
) -> None:
    raw, previous = [await _killed(engine, pg_server_url, read) for read in PATHS]
    assert type(raw) is type(previous)
    assert type(raw.orig) is type(previous.orig)
    assert raw.connection_invalidated
    assert previous.connection_invalidated


async def test_cancelled_read_gives_back_no_broken_connection(engine: AsyncEngine) -> None:
    sessions = read_session_factory(engine)
    async with sessions() as session:
        pid = await raw_reads.scalar(session, select(func.pg_backend_pid()))
        task = asyncio.create_task(raw_reads.fetch(session, select(func.pg_sleep(30))))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # As SQLAlchemy does for a statement interrupted by a cancellation: the connection, in an
    # unknown state, is closed rather than handed out again.
    alive = select(func.count()).select_from(text("pg_stat_activity")).where(text(f"pid = {pid}"))
    async with sessions() as session:
        for _ in range(500):
            if not await raw_reads.scalar(session, alive):
                break
            await asyncio.sleep(0.01)
        assert await raw_reads.scalar(session, alive) == 0
        assert await raw_reads.scalar(session, select(literal(2))) == 2


async def test_in_lists_are_refused_and_among_keeps_one_text(db: AsyncSession) -> None:
    with pytest.raises(exc.InvalidRequestError):
        await raw_reads.fetch(db, select(EVENTS.c.id).where(EVENTS.c.id.in_([1, 2])))
    texts = set()

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        texts.add(statement)

    connection = await db.connection()
    event.listen(connection.sync_connection, "before_cursor_execute", seen)
    try:
        for ids in ([1], [1, 2, 3], list(range(50))):
            await raw_reads.fetch(db, select(EVENTS.c.id).where(raw_reads.among(EVENTS.c.id, ids)))
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", seen)
    assert len(texts) == 1


async def test_fixed_reads_bind_every_value_by_name(db: AsyncSession) -> None:
    def baked() -> Any:
        return select(EVENTS.c.id).where(EVENTS.c.id == 5)  # a value built in: refused

    with pytest.raises(exc.InvalidRequestError):
        await raw_reads.fetch_fixed(db, "test baked", baked, {})
    await seed(db)

    def named() -> Any:
        window = EVENTS.c.id.between(bindparam("low"), bindparam("high"))
        return select(EVENTS.c.id).where(window).order_by(EVENTS.c.id)

    for low in (9_001, 9_002):
        values = {"low": low, "high": 9_002}
        rows = await raw_reads.fetch_fixed(db, "test named", named, values)
        assert [row.id for row in rows] == list(range(low, 9_003))

"""The hub's read after a doorbell, on the wire (tests/support/pg_wire): one round trip.

It is on every doorbell's path to the subscribers' frames, in every web worker.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainEvent
from dpo.db.session import create_engine, session_factory
from dpo.streaming.hub import FeedHub
from dpo.streaming.items import item_of, items_after
from tests.integration.streaming.support import FakeChain
from tests.support.pg_wire import PgWire


async def test_a_doorbell_read_is_one_statement_and_reads_what_the_orm_reads(
    migrated_database: str, sessions: async_sessionmaker[AsyncSession], chain: FakeChain
) -> None:
    await chain.emit(3)
    async with PgWire(migrated_database) as wire:
        engine = create_engine(wire.url(migrated_database), pool_size=1)
        try:
            hub = FeedHub(sessions=session_factory(engine), redis=None, channel="x", page_size=4)
            await hub.catch_up()  # prepares the statement on the connection
            assert hub.head == 3
            await chain.emit(6)
            wire.reset()
            await hub.catch_up()
            # Two pages (4 + 2 items), each one statement: no BEGIN, no ROLLBACK.
            statements = wire.statements()
            assert (wire.round_trips, len(statements)) == (2, 2), statements
            assert hub.head == 9
        finally:
            await engine.dispose()
    async with sessions() as session:
        expected = [item_of(r) for r in await session.scalars(select(ChainEvent).order_by("id"))]
    async with sessions() as session:
        assert await items_after(session, 0, 100) == expected
        assert await items_after(session, 7, 1) == expected[7:8]

"""One active listener per chain: standby, failover when the active dies, fencing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.db.session import create_engine, session_factory
from dpo.db.urls import libpq_url
from listener import store
from listener.follower import Follower
from listener.leader import Leader, LeadershipLostError, lock_key
from listener.service import lead
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import (
    ANVIL_CHAIN_ID,
    Sessions,
    feed,
    head,
    live_events,
    make_follower,
    with_offering,
)

pytestmark = pytest.mark.needs_chain


@pytest.fixture(scope="module")
async def chain(w3: AsyncWeb3[AsyncHTTPProvider], deployed: dict[str, str]) -> Chain:
    """The module's deployed contracts."""
    return Chain(w3, deployed)


@pytest.fixture
async def database(migrated_database: str) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A migrated database and an engine on it."""
    engine = create_engine(migrated_database, pool_size=6)
    yield migrated_database, engine
    await engine.dispose()


class Instance:
    """One listener process, in-process: a leader and a follower in a task."""

    def __init__(self, url: str, follower: Follower) -> None:
        self.leader = Leader(
            database_url=url, chain_id=ANVIL_CHAIN_ID, retry_interval=0.2, watch_interval=0.2
        )
        follower.fence = self.leader
        self.follower = follower
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(lead(follower, self.leader, self.stop))

    async def kill(self) -> None:
        """Die without a goodbye: the task is cancelled and the lock connection torn down."""
        connection = self.leader._connection
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if connection is not None:
            connection.terminate()


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    """Poll an async predicate until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        assert loop.time() < deadline, "condition never met"
        await asyncio.sleep(0.05)


async def lock_holders(url: str) -> int:
    """How many sessions hold the chain's listener lock in this database.

    Advisory locks are per database: a listener of the same chain on another database of the
    server (another test running at the same time) holds a lock of its own.
    """
    key = lock_key(ANVIL_CHAIN_ID)
    connection = await asyncpg.connect(libpq_url(url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND ((classid::bigint << 32) | objid::bigint) = $1",
                key,
            )
        )
    finally:
        await connection.close()


def at(sessions: Sessions, number: int, hash_: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (number, hash_)

    return check


async def test_one_active_the_standby_takes_over_when_it_dies(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    database: tuple[str, AsyncEngine],
) -> None:
    url, engine = database
    sessions = await with_offering(session_factory(engine), deployed)
    holder = await chain.investor(tokens=50)
    first = Instance(url, make_follower(anvil_url, deployed, sessions))
    second = Instance(url, make_follower(anvil_url, deployed, sessions))
    try:
        number, hash_ = await head(chain.w3)
        await wait_for(at(sessions, number, hash_))
        assert [first.leader.active, second.leader.active].count(True) == 1
        assert await lock_holders(url) == 1
        active, standby = (first, second) if first.leader.active else (second, first)

        await active.kill()
        for _ in range(3):
            await chain.send(chain.token.functions.issue(holder, 1, 0, ref()))
        number, hash_ = await head(chain.w3)
        await wait_for(at(sessions, number, hash_), within=20)
        assert standby.leader.active
        assert not standby.task.done()
    finally:
        for instance in (first, second):
            instance.stop.set()
        await asyncio.wait_for(asyncio.gather(first.task, second.task, return_exceptions=True), 30)
    items = await feed(sessions)
    assert [i[0] for i in items] == list(range(1, len(items) + 1))
    assert all(removes is None for _, _, removes in items)
    events = await live_events(sessions)
    keys = [(e[1], e[2], e[3]) for e in events]
    assert len(keys) == len(set(keys))
    addresses = [AsyncWeb3.to_checksum_address(a) for a in chain.by_address]
    logs = await chain.w3.eth.get_logs({"fromBlock": 0, "toBlock": number, "address": addresses})
    assert len(events) == len(logs)


async def test_an_active_listener_whose_lock_connection_dies_stops_at_once(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    database: tuple[str, AsyncEngine],
) -> None:
    url, engine = database
    sessions = await with_offering(session_factory(engine), deployed)
    instance = Instance(url, make_follower(anvil_url, deployed, sessions))
    number, hash_ = await head(chain.w3)
    await wait_for(at(sessions, number, hash_))
    pid = instance.leader.backend_pid
    assert pid is not None
    admin = await asyncpg.connect(libpq_url(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    with pytest.raises(LeadershipLostError):
        await asyncio.wait_for(instance.task, 30)
    # Nothing more is written by the fenced-off instance.
    await chain.send(chain.token.functions.issue(await chain.investor(), 1, 0, ref()))
    await asyncio.sleep(1)
    assert await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (number, hash_)

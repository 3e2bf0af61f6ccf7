"""The follower on a real anvil and PostgreSQL: backfill, live events, reorgs, lagging nodes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.channels import Channels
from dpo.db.session import create_engine, session_factory
from dpo.settings import ConfigError
from listener import metrics, store
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.heads import Heads
from listener.reorg import DeepReorgError
from listener.rpc import RpcClient
from listener.service import rewind, watch_heads
from listener.store import PgStore
from tests.conftest import _drop_database
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.db import factories
from tests.support.faulty_proxy import FaultyProxy
from tests.support.migrated import migrated_copy

pytestmark = pytest.mark.needs_chain

ANVIL_CHAIN_ID = 31337
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def chain(w3: AsyncWeb3[AsyncHTTPProvider], deployed: dict[str, str]) -> Chain:
    """The module's deployed contracts."""
    return Chain(w3, deployed)


@pytest.fixture
async def databases(pg_server_url: str) -> AsyncIterator[Callable[[], Awaitable[Sessions]]]:
    """Make migrated databases with an offering on the Issuance token; dropped after."""
    made: list[tuple[str, Any]] = []

    async def make() -> Sessions:
        url = await migrated_copy(pg_server_url)
        engine = create_engine(url, pool_size=4)
        made.append((url, engine))
        return session_factory(engine)

    yield make
    # A failed test may leave followers running: stop them before dropping their databases.
    while Running.started:
        running = Running.started.pop()
        running.task.cancel()
        await asyncio.gather(running.task, return_exceptions=True)
    for url, engine in made:
        await engine.dispose()
        await _drop_database(pg_server_url, url)


async def with_offering(sessions: Sessions, deployed: dict[str, str]) -> Sessions:
    """Give the database the offering whose token is the Issuance contract."""
    async with sessions() as session, session.begin():
        session.add(factories.offering(token_address=deployed["ISSUANCE_CONTRACT_ADDRESS"]))
    return sessions


def make_follower(
    anvil_url: str,
    deployed: dict[str, str],
    sessions: Sessions,
    redis: aioredis.Redis | None = None,
    rpc: Any = None,
    **config: Any,
) -> Follower:
    """A follower of the module's anvil with small batches."""
    decoder = Decoder(
        ANVIL_CHAIN_ID, {deployed[var]: name for var, name in CONTRACT_ARTIFACTS.items()}
    )
    settings: dict[str, Any] = {
        "chain_id": ANVIL_CHAIN_ID,
        "poll_interval": 0.05,
        "batch_blocks": 3,
        "max_batch_blocks": 3,
        "concurrency": 3,
        "reorg_window": 16,
    }
    settings.update(config)
    return Follower(
        rpc=rpc or RpcClient(urls=[anvil_url], timeout=10),
        store=PgStore(sessions, redis=redis),
        decoder=decoder,
        config=FollowerConfig(**settings),
    )


class Running:
    """A follower running in a task until stopped."""

    started: list[Running] = []

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(follower.run(self.stop))
        Running.started.append(self)

    async def reach(self, block: int, *, hash_: str | None = None, within: float = 60) -> None:
        """Wait until the checkpoint is at `block` or beyond (with that hash, if given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if self.task.done():
                self.task.result()
                raise AssertionError("the follower stopped early")
            point = await self.follower.store.checkpoint(ANVIL_CHAIN_ID)
            if (
                point is not None
                and point[0] >= block
                and (hash_ is None or (point[0] == block and point[1] == hash_))
            ):
                return
            assert loop.time() < deadline, f"checkpoint {point} never reached block {block}"
            await asyncio.sleep(0.05)

    async def finish(self) -> None:
        """Stop the follower and wait for it."""
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def head(w3: AsyncWeb3[AsyncHTTPProvider]) -> tuple[int, str]:
    """The chain head's number and hash."""
    block = await w3.eth.get_block("latest")
    return int(block["number"]), block["hash"].to_0x_hex()


async def mine(w3: AsyncWeb3[AsyncHTTPProvider], blocks: int) -> None:
    """Mine empty blocks."""
    await w3.provider.make_request("anvil_mine", [hex(blocks)])


async def history(chain: Chain, rounds: int) -> int:
    """Token activity spread over many blocks; returns the number of events emitted."""
    events = 0
    holders = [await chain.investor() for _ in range(3)]
    for i in range(rounds):
        a, b = holders[i % 3], holders[(i + 1) % 3]
        events += len(await chain.send(chain.token.functions.issue(a, 10 + i, 0, ref())))
        await mine(chain.w3, i % 4)
        events += len(await chain.send(chain.token.functions.transfer(b, 3), a))
        if i % 5 == 0:
            events += len(await chain.send(chain.token.functions.freezePartialTokens(b, 1)))
        await mine(chain.w3, (i * 7) % 5)
    return events


async def live_events(sessions: Sessions) -> list[tuple[Any, ...]]:
    """The live events, without feed ids."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT block_number, block_hash, tx_hash, log_index, contract_name, "
                    "event_name, args::text FROM chain_events WHERE NOT removed "
                    "ORDER BY block_number, log_index"
                )
            )
        ).all()
    return [tuple(r) for r in rows]


async def state(sessions: Sessions) -> dict[str, Any]:
    """What a clean run over the same chain must give: live events and projections."""
    async with sessions() as session:
        positions = (
            await session.execute(
                text(
                    "SELECT holder_address, location, quantity, frozen_quantity FROM positions "
                    "ORDER BY holder_address, location"
                )
            )
        ).all()
    return {"events": await live_events(sessions), "positions": [tuple(p) for p in positions]}


async def feed(sessions: Sessions) -> list[tuple[int, bool, int | None]]:
    """Every feed item: (id, removed, removes_id)."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text("SELECT id, removed, removes_id FROM chain_events ORDER BY id")
            )
        ).all()
    return [(int(r[0]), bool(r[1]), r[2]) for r in rows]


async def clean_run(
    anvil_url: str,
    deployed: dict[str, str],
    databases: Callable[[], Awaitable[Sessions]],
    w3: AsyncWeb3[AsyncHTTPProvider],
) -> dict[str, Any]:
    """Backfill the current chain into a fresh database and return its state."""
    sessions = await with_offering(await databases(), deployed)
    running = Running(
        make_follower(anvil_url, deployed, sessions, batch_blocks=50, max_batch_blocks=50)
    )
    number, hash_ = await head(w3)
    await running.reach(number, hash_=hash_)
    await running.finish()
    return await state(sessions)


async def test_backfill_stores_every_event_exactly_once_across_range_boundaries(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
    redis_client: aioredis.Redis,
) -> None:
    emitted = await history(chain, 16)
    number, hash_ = await head(chain.w3)
    # What the chain holds, read directly: the expected events.
    addresses = [AsyncWeb3.to_checksum_address(a) for a in chain.by_address]
    raw = await chain.w3.eth.get_logs({"fromBlock": 0, "toBlock": number, "address": addresses})
    expected = sorted(
        (log["blockNumber"], log["transactionHash"].to_0x_hex(), log["logIndex"]) for log in raw
    )
    assert len(expected) >= emitted > 40
    sessions = await with_offering(await databases(), deployed)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(Channels().feed)
    running = Running(make_follower(anvil_url, deployed, sessions, redis=redis_client))
    await running.reach(number, hash_=hash_)
    await running.finish()

    events = await live_events(sessions)
    assert sorted((e[0], e[2], e[3]) for e in events) == expected
    assert metrics.PROCESSED_BLOCK._value.get() == number
    assert metrics.LAG_BLOCKS._value.get() >= 0
    items = await feed(sessions)
    assert [i[0] for i in items] == list(range(1, len(expected) + 1))  # gap-free feed
    # The doorbell rang for exactly the committed feed ids.
    announced: list[int] = []
    for _ in range(200):  # None also stands for a skipped subscribe confirmation
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            body = json.loads(message["data"])
            announced.extend(range(body["first"], body["last"] + 1))
        elif len(announced) >= len(expected):
            break
    await pubsub.aclose()
    assert announced == list(range(1, len(expected) + 1))
    # Positions add up to what the token says.
    positions = (await state(sessions))["positions"]
    for holder, _, quantity, frozen in positions:
        assert quantity == await chain.token.functions.balanceOf(holder).call()
        assert frozen == await chain.token.functions.getFrozenTokens(holder).call()


async def test_live_events_arrive_while_the_follower_runs(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    running = Running(make_follower(anvil_url, deployed, sessions))
    number, _ = await head(chain.w3)
    await running.reach(number)
    investor = await chain.investor()
    tx_hash = await chain.token.functions.issue(investor, 42, 0, ref()).transact(
        {"from": chain.admin}
    )
    await chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    await running.finish()
    names = sorted(e[5] for e in await live_events(sessions) if e[2] == tx_hash.to_0x_hex())
    assert names == ["Issued", "Transfer"]
    assert (await clean_run(anvil_url, deployed, databases, chain.w3)) == await state(sessions)


async def reorg(chain: Chain, depth: int, replacement: Sequence[tuple[str, Any]]) -> None:
    """anvil_reorg: replace the last `depth` blocks, putting these calls in the first one."""
    pairs = [
        [{"from": chain.admin, "to": address, "data": data, "gas": hex(500_000)}, 0]
        for address, data in replacement
    ]
    response = await chain.w3.provider.make_request("anvil_reorg", [depth, pairs])
    assert "error" not in response, response


@pytest.mark.parametrize("depth", [1, 3])
async def test_a_reorg_reverts_orphaned_events_and_matches_a_clean_run(
    depth: int,
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    holder = await chain.investor(tokens=100)
    other = await chain.investor()
    running = Running(make_follower(anvil_url, deployed, sessions))
    # Events in each of the last `depth` blocks, then follow them.
    for _ in range(depth):
        await chain.send(chain.token.functions.issue(holder, 5, 0, ref()))
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    orphaned = {e for e in await live_events(sessions) if e[0] > number - depth}
    assert orphaned
    data = chain.token.encode_abi("issue", args=[other, 77, 0, ref()])
    await reorg(chain, depth, [(chain.token.address, data)])
    new_number, new_hash = await head(chain.w3)
    assert new_number == number
    assert new_hash != hash_
    await running.reach(new_number, hash_=new_hash)
    await running.finish()

    after = await live_events(sessions)
    assert not orphaned & set(after)
    assert any(e[0] == number - depth + 1 and e[5] == "Issued" for e in after)
    items = await feed(sessions)
    removals = [i for i in items if i[2] is not None]
    assert len(removals) == len(orphaned)
    assert [i[0] for i in items] == list(range(1, len(items) + 1))
    assert (await clean_run(anvil_url, deployed, databases, chain.w3)) == await state(sessions)


async def test_a_reorg_deeper_than_the_window_stops_loudly_and_changes_nothing(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
    redis_client: aioredis.Redis,
) -> None:
    sessions = await with_offering(await databases(), deployed)
    holder = await chain.investor(tokens=100)
    for _ in range(5):
        await chain.send(chain.token.functions.issue(holder, 1, 0, ref()))
    running = Running(make_follower(anvil_url, deployed, sessions, reorg_window=2))
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    before = await state(sessions)
    items = await feed(sessions)
    await reorg(chain, 5, [])
    with pytest.raises(DeepReorgError, match=r"dpo listener --rewind") as info:
        await asyncio.wait_for(running.task, 30)
    assert info.value.highest == number
    assert await state(sessions) == before
    assert await feed(sessions) == items
    assert await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (number, hash_)
    # The suggested block is the newest one whose events survived: below the 5 replaced.
    assert info.value.rewind_to == number - 5
    assert f"--rewind {number - 5}" in str(info.value)

    # The operator's way out: rewind there and follow again.
    follower = make_follower(anvil_url, deployed, sessions, redis_client, reorg_window=2)
    await rewind(follower, number)  # not below the checkpoint: nothing to do
    assert await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (number, hash_)
    with pytest.raises(ConfigError, match=f"rewind to {number - 5} or lower"):
        await rewind(follower, number - 2)  # would keep orphaned events
    assert await feed(sessions) == items
    await rewind(follower, info.value.rewind_to)
    running = Running(follower)
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    await running.finish()
    assert (await clean_run(anvil_url, deployed, databases, chain.w3)) == await state(sessions)


class LaggingRpc:
    """A provider double whose head lags behind the real node while `lagging` is set."""

    def __init__(self, inner: RpcClient, behind: int) -> None:
        self.inner = inner
        self.behind = behind
        self.lagging = False
        self.lagged_answers = 0
        self.lagged_enough = asyncio.Event()

    async def chain_id(self) -> int:
        return await self.inner.chain_id()

    async def block_number(self) -> int:
        number = await self.inner.block_number()
        if self.lagging:
            self.lagged_answers += 1
            if self.lagged_answers >= 10:
                self.lagged_enough.set()
            return number - self.behind
        return number

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        # The lagging node does not have the newest blocks at all.
        if (
            self.lagging
            and isinstance(block, int)
            and block > await self.inner.block_number() - self.behind
        ):
            return None
        return await self.inner.get_block(block)

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        return [await self.get_block(n) for n in numbers]

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.inner.get_logs(from_block, to_block, addresses)

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
        return await self.inner.get_logs_at(block_hash, addresses)

    def report_inconsistent(self) -> None:
        self.inner.report_inconsistent()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_lagging_node_is_not_a_reorg(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    rpc = LaggingRpc(RpcClient(urls=[anvil_url], timeout=10), behind=4)
    running = Running(make_follower(anvil_url, deployed, sessions, rpc=rpc))
    holder = await chain.investor(tokens=10)
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    items = await feed(sessions)
    rpc.lagging = True
    await asyncio.wait_for(rpc.lagged_enough.wait(), 30)
    assert await feed(sessions) == items  # nothing removed, nothing added
    assert await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (number, hash_)
    rpc.lagging = False
    await chain.send(chain.token.functions.issue(holder, 1, 0, ref()))
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    await running.finish()
    assert all(removes is None for _, _, removes in await feed(sessions))
    assert (await clean_run(anvil_url, deployed, databases, chain.w3)) == await state(sessions)


async def test_provider_faults_lose_nothing_and_duplicate_nothing(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    await history(chain, 6)
    number, hash_ = await head(chain.w3)
    sessions = await with_offering(await databases(), deployed)
    async with FaultyProxy(anvil_url, seed=11) as proxy:
        proxy.set_plan(["500", "429:0", "truncate", "cut", "timeout", "reset"])
        proxy.set_plan(
            ["rpc:-32000:block range is too wide", "500", "truncate"], method="eth_getLogs"
        )
        proxy.set_rates(
            {
                "500": 0.08,
                "429:0": 0.05,
                "truncate": 0.05,
                "cut": 0.04,
                "timeout": 0.02,
                "reset": 0.03,
            },
            seed=11,
        )
        rpc = RpcClient(urls=[proxy.url], timeout=0.5, backoff_base=0.01, backoff_cap=0.05)
        running = Running(
            make_follower(
                anvil_url, deployed, sessions, rpc=rpc, batch_blocks=8, max_batch_blocks=32
            )
        )
        await running.reach(number, hash_=hash_, within=120)
        await running.finish()
        await rpc.aclose()
        injected = sum(proxy.faults_injected.values())
        assert proxy.faults_injected["rpc"] == 1  # the range refusal was met
    assert injected >= 10
    assert (await clean_run(anvil_url, deployed, databases, chain.w3)) == await state(sessions)
    items = await feed(sessions)
    assert [i[0] for i in items] == list(range(1, len(items) + 1))
    assert all(removes is None for _, _, removes in items)


async def test_new_heads_over_websocket_wake_an_idle_follower(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    pushed = Heads()
    heads = asyncio.create_task(watch_heads(anvil_url.replace("http://", "ws://"), pushed))
    # Polling alone would take a minute to see the next block.
    follower = make_follower(anvil_url, deployed, sessions, poll_interval=60.0)
    follower.heads = pushed
    running = Running(follower)
    try:
        number, hash_ = await head(chain.w3)
        await running.reach(number, hash_=hash_)
        saved = follower.saved
        await chain.send(chain.token.functions.issue(await chain.investor(), 3, 0, ref()))
        number, hash_ = await head(chain.w3)
        await running.reach(number, hash_=hash_, within=20)
        await running.finish()
        # The new block's header came with the push (anvil's newHeads), not from a fetch.
        assert follower.saved > saved
    finally:
        heads.cancel()
        await asyncio.gather(heads, return_exceptions=True)


class CountingRpc(LaggingRpc):
    """A provider double that only counts head polls, and signals every `every` of them."""

    def __init__(self, inner: RpcClient, every: int = 10) -> None:
        super().__init__(inner, behind=0)
        self.every = every
        self.polls = 0
        self.polled = asyncio.Event()

    async def block_number(self) -> int:
        self.polls += 1
        if self.polls % self.every == 0:
            self.polled.set()
        return await self.inner.block_number()


async def test_confirmations_hold_back_the_newest_blocks(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    await chain.send(chain.token.functions.issue(await chain.investor(), 2, 0, ref()))
    number, _ = await head(chain.w3)
    rpc = CountingRpc(RpcClient(urls=[anvil_url], timeout=10))
    running = Running(make_follower(anvil_url, deployed, sessions, rpc=rpc, confirmations=3))
    await running.reach(number - 3)
    rpc.polled.clear()
    await asyncio.wait_for(rpc.polled.wait(), 30)  # ten more polls of an unchanged head
    assert (await store.checkpoint(sessions, ANVIL_CHAIN_ID) or (0, ""))[0] == number - 3
    assert not any(e[0] > number - 3 for e in await live_events(sessions))
    await mine(chain.w3, 3)
    block = await chain.w3.eth.get_block(number)
    await running.reach(number, hash_=block["hash"].to_0x_hex())
    await running.finish()
    assert (await store.checkpoint(sessions, ANVIL_CHAIN_ID) or (0, ""))[0] == number


async def test_use_finalized_follows_the_finalized_block_only(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    await mine(chain.w3, 80)
    finalized = await chain.w3.eth.get_block("finalized")
    number, _ = await head(chain.w3)
    assert 0 < finalized["number"] < number  # anvil finalizes some blocks behind the head
    rpc = CountingRpc(RpcClient(urls=[anvil_url], timeout=10))
    running = Running(
        make_follower(
            anvil_url,
            deployed,
            sessions,
            rpc=rpc,
            use_finalized=True,
            batch_blocks=50,
            max_batch_blocks=50,
        )
    )
    await running.reach(finalized["number"], hash_=finalized["hash"].to_0x_hex())
    rpc.polled.clear()
    await asyncio.wait_for(rpc.polled.wait(), 30)
    await running.finish()
    assert await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (
        finalized["number"],
        finalized["hash"].to_0x_hex(),
    )


async def test_a_reorg_while_the_listener_was_down_is_reverted_at_start(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    holder = await chain.investor(tokens=20)
    for _ in range(2):
        await chain.send(chain.token.functions.issue(holder, 4, 0, ref()))
    running = Running(make_follower(anvil_url, deployed, sessions))
    number, hash_ = await head(chain.w3)
    await running.reach(number, hash_=hash_)
    await running.finish()
    await reorg(chain, 2, [])
    new_number, new_hash = await head(chain.w3)
    running = Running(make_follower(anvil_url, deployed, sessions))
    await running.reach(new_number, hash_=new_hash)
    await running.finish()
    assert sum(1 for _, removed, removes in await feed(sessions) if removes is not None) == 4
    assert (await clean_run(anvil_url, deployed, databases, chain.w3)) == await state(sessions)

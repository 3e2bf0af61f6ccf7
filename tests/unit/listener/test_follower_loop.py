"""The follower's real loop on in-memory fakes of its ports: follow, reorgs, lag, failures.

Fast (no node, no database): the decisions of `Follower.run` are checked here, the SQL and
the projections behind PgStore in tests/integration/listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from listener import metrics
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.ports import RpcError
from listener.reorg import DeepReorgError
from listener.service import rewind
from tests.unit.listener.fake_rpc import CHAIN_ID, TOKEN, FakeRpc
from tests.unit.listener.fake_store import FakeStore

WINDOW = 8


def make_follower(rpc: FakeRpc, store: FakeStore, **config: Any) -> Follower:
    """A follower of the fake node with small ranges, so that batches span many ranges."""
    settings: dict[str, Any] = {
        "chain_id": CHAIN_ID,
        "poll_interval": 0.01,
        "batch_blocks": 3,
        "max_batch_blocks": 3,
        "concurrency": 3,
        "reorg_window": WINDOW,
    }
    settings.update(config)
    return Follower(
        rpc=rpc,
        store=store,
        decoder=Decoder(CHAIN_ID, {TOKEN: "Issuance"}),
        config=FollowerConfig(**settings),
    )


class Running:
    """A follower's `run` in a task, stopped at the end of the test."""

    def __init__(self, follower: Follower) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(follower.run(self.stop))

    async def until(self, condition: Callable[[], bool], within: float = 20.0) -> None:
        """Wait until `condition` holds; fail if the follower stops first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            if self.task.done():
                self.task.result()
                raise AssertionError("the follower stopped early")
            assert loop.time() < deadline, "the condition never held"
            await asyncio.sleep(0.002)

    async def finish(self) -> None:
        """Stop the follower; its `run` returns without an error."""
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Follower], Running]]:
    started: list[Running] = []

    def start(follower: Follower) -> Running:
        started.append(Running(follower))
        return started[-1]

    yield start
    for run in started:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


def at_head(store: FakeStore, rpc: FakeRpc) -> Callable[[], bool]:
    """The store's checkpoint is the chain's head (number and hash)."""
    return lambda: store.point == (rpc.head.number, rpc.head.hash)


def assert_consistent(store: FakeStore, rpc: FakeRpc) -> None:
    """Exactly the chain's events are live; the feed is gap-free and announced in order."""
    assert set(store.live) == rpc.keys()
    ids = [item.id for item in store.feed]
    assert ids == list(range(1, len(ids) + 1))
    announced = [n for _, first, last in store.announced for n in range(first, last + 1)]
    assert announced == ids
    assert all(chain == CHAIN_ID for chain, _, _ in store.announced)


async def clean_run(rpc: FakeRpc, running: Callable[[Follower], Running]) -> FakeStore:
    """A fresh store after an uninterrupted follow of the chain as it is now."""
    store = FakeStore()
    run = running(make_follower(rpc, store))
    await run.until(at_head(store, rpc))
    await run.finish()
    return store


async def test_steady_follow_stores_every_event_once_and_announces_after_each_commit(
    running: Callable[[Follower], Running],
) -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(20, events=2)
    rpc.mine_many(3, events=0)
    run = running(make_follower(rpc, store))
    await run.until(at_head(store, rpc))
    assert len(store.live) == 40
    for _ in range(4):  # live blocks arrive while it follows
        rpc.mine(events=3)
        await run.until(at_head(store, rpc))
    await run.finish()
    assert_consistent(store, rpc)
    assert len(store.live) == 52
    assert not [item for item in store.feed if item.removes is not None]
    # The kept headers are the reorg window's: window + 1 blocks below the tip.
    assert sorted(store.headers) == list(range(rpc.head.number - WINDOW, rpc.head.number + 1))
    assert metrics.PROCESSED_BLOCK._value.get() == rpc.head.number
    assert store.statuses == []  # never halted: nothing announced about the status


async def test_a_reorg_reverts_to_the_common_ancestor_and_follows_the_new_branch(
    running: Callable[[Follower], Running],
) -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(15, events=2)
    run = running(make_follower(rpc, store))
    await run.until(at_head(store, rpc))
    before = dict(store.live)
    reorgs = metrics.REORGS._value.get()
    rpc.reorg(3, events=1)
    await run.until(at_head(store, rpc))
    await run.finish()
    assert metrics.REORGS._value.get() == reorgs + 1
    orphaned = set(before) - rpc.keys()
    assert len(orphaned) == 6
    assert not orphaned & set(store.live)
    assert_consistent(store, rpc)
    # One removal item per orphaned event, newest first, each naming the item it removes.
    removals = [item for item in store.feed if item.removes is not None]
    assert {item.key for item in removals} == orphaned
    assert [item.removes for item in removals] == sorted(
        (before[key][0] for key in orphaned), reverse=True
    )
    assert [item.block_number for item in removals] == sorted(
        (item.block_number for item in removals), reverse=True
    )
    # The same live events as a follower that never saw the orphaned branch.
    assert set((await clean_run(rpc, running)).live) == set(store.live)


async def test_a_reorg_deeper_than_the_window_halts_unchanged_and_a_rewind_recovers(
    running: Callable[[Follower], Running],
) -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(12, events=1)
    run = running(make_follower(rpc, store, reorg_window=2))
    await run.until(at_head(store, rpc))
    live, feed, point = dict(store.live), list(store.feed), store.point
    rpc.reorg(5, events=2)
    with pytest.raises(DeepReorgError) as info:
        await asyncio.wait_for(run.task, 10)
    assert (store.live, store.feed, store.point) == (live, feed, point)
    assert info.value.rewind_to == 12 - 5
    assert store.halted == str(info.value)
    assert store.statuses == [(CHAIN_ID, "halted")]

    # The operator's rewind goes through the follower's own revert-and-publish.
    follower = make_follower(rpc, store, reorg_window=2)
    await rewind(follower, info.value.rewind_to)
    assert store.point == (7, rpc.blocks[7].hash)
    removals = [item for item in store.feed if item.removes is not None]
    assert len(removals) == 5
    assert store.announced[-1] == (CHAIN_ID, removals[0].id, removals[-1].id)
    run = running(follower)
    await run.until(lambda: at_head(store, rpc)() and store.halted is None)
    await run.finish()
    assert store.statuses == [(CHAIN_ID, "halted"), (CHAIN_ID, "live")]
    assert_consistent(store, rpc)


async def test_a_lagging_node_is_never_taken_for_a_reorg(
    running: Callable[[Follower], Running],
) -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(10, events=1)
    run = running(make_follower(rpc, store))
    await run.until(at_head(store, rpc))
    writes = store.writes

    # A node behind our tip: its head is lower and it lacks our newest blocks.
    rpc.head_lag = rpc.blocks_lag = 4
    polled = rpc.calls["eth_blockNumber"]
    await run.until(lambda: rpc.calls["eth_blockNumber"] >= polled + 5)
    # Its head is current but it lacks our tip (answers from a node behind its peers).
    rpc.head_lag = 0
    polled = rpc.calls["eth_blockNumber"]
    await run.until(lambda: rpc.calls["eth_blockNumber"] >= polled + 5)
    # New blocks the node reports but lacks: their answers are refused, never stored.
    rpc.mine_many(4, events=2)
    refused = rpc.inconsistent
    await run.until(lambda: rpc.inconsistent > refused)
    assert store.writes == writes  # nothing was reverted nor stored from its answers
    rpc.blocks_lag = 0
    await run.until(at_head(store, rpc))
    await run.finish()
    assert not [item for item in store.feed if item.removes is not None]
    assert_consistent(store, rpc)


async def test_transient_provider_and_database_errors_are_retried_from_the_checkpoint(
    running: Callable[[Follower], Running],
) -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(9, events=2)
    run = running(make_follower(rpc, store))
    await run.until(at_head(store, rpc))

    rpc.fail_next(4)  # a provider outage
    rpc.mine_many(3, events=1)
    await run.until(at_head(store, rpc))
    assert rpc.failures == 0

    # The connection is lost before a commit, then after one (the outcome unknown to us):
    # the follower resumes from the checkpoint and stores nothing twice.
    retries = metrics.DB_RETRIES._value.get()
    store.fail_next(ConnectionResetError("server closed the connection"))
    store.fail_next(ConnectionResetError("server closed the connection"), after_commit=True)
    for _ in range(2):
        rpc.mine(events=2)
        await run.until(at_head(store, rpc))
    await run.finish()
    assert metrics.DB_RETRIES._value.get() == retries + 2
    assert set(store.live) == rpc.keys()
    assert [item.id for item in store.feed] == list(range(1, len(store.feed) + 1))
    assert len(store.feed) == len(rpc.keys())
    # The batch whose commit was not confirmed was never announced: subscribers catch up
    # from the feed by its gap, as they do after a lost pub/sub message.
    announced = [n for _, first, last in store.announced for n in range(first, last + 1)]
    assert set(announced) < {item.id for item in store.feed}


@pytest.mark.parametrize(
    "error",
    [
        RpcError("method not found", code=-32601),
        ValueError("a programming error"),
    ],
)
async def test_an_error_that_is_not_transient_stops_the_follower(
    running: Callable[[Follower], Running],
    error: Exception,
) -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(4, events=1)
    run = running(make_follower(rpc, store))
    await run.until(at_head(store, rpc))
    point, feed = store.point, list(store.feed)
    if isinstance(error, RpcError):

        async def refuse(*_: Any) -> int:
            raise error

        rpc.block_number = refuse  # type: ignore[method-assign]
    else:
        store.fail_next(error)
    rpc.mine(events=1)
    with pytest.raises(type(error)):
        await asyncio.wait_for(run.task, 10)
    assert (store.point, store.feed) == (point, feed)

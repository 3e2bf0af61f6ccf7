"""The follower at the tip: a fixed polling period, and pushed heads that save RPC calls.

On the fakes of tests/unit/listener (no node, no database), with a fake clock: the period's
due times are exact, so a loop that sleeps a full interval after each pass fails here.
"""

from __future__ import annotations

import asyncio

from listener import metrics
from listener.follower import Follower
from listener.heads import Heads, pushed_header
from listener.period import Period
from tests.unit.listener.fake_rpc import FakeRpc
from tests.unit.listener.fake_store import FakeStore
from tests.unit.listener.test_follower_loop import Running, at_head, make_follower


class Clock:
    """A fake monotonic clock; `sleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TimedRpc(FakeRpc):
    """A node whose eth_blockNumber marks a poll's start and costs `costs[n]` fake seconds."""

    def __init__(self, clock: Clock, costs: list[float], mine_at: frozenset[int]) -> None:
        super().__init__()
        self.clock = clock
        self.costs = costs
        self.mine_at = mine_at
        self.polls: list[float] = []
        self.done = asyncio.Event()

    async def block_number(self) -> int:
        if len(self.polls) in self.mine_at:
            self.mine(events=1)  # this poll finds a block: a busy pass, then a poll at once
        self.polls.append(round(self.clock.now, 6))
        cost = self.costs[len(self.polls) - 1] if len(self.polls) <= len(self.costs) else 0.3
        self.clock.now += cost  # the pass's work, on the fake clock
        if len(self.polls) >= len(self.costs):
            self.done.set()
        return await super().block_number()


async def polls(
    costs: list[float], interval: float = 1.0, mine_at: frozenset[int] = frozenset()
) -> list[float]:
    """The fake times at which a follower polled, each pass costing `costs[n]`."""
    clock = Clock()
    rpc, store = TimedRpc(clock, costs, mine_at), FakeStore()
    # Nothing to fetch (the chain is its genesis block): every pass is an idle poll.
    follower = make_follower(rpc, store, poll_interval=interval, start_block=1)
    follower.period = Period(interval, clock=clock, sleep=clock.sleep)
    run = Running(follower)
    await asyncio.wait_for(rpc.done.wait(), 10)
    await run.finish()
    return rpc.polls[: len(costs)]


async def test_polls_keep_a_fixed_period_whatever_a_pass_costs() -> None:
    # A sleep after each pass would poll at 0, 1.3, 2.6, 3.9.
    assert await polls([0.3, 0.3, 0.3, 0.3]) == [0.0, 1.0, 2.0, 3.0]
    assert await polls([0.05, 0.7, 0.2, 0.0, 0.9]) == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_a_block_found_keeps_the_grid_without_an_extra_poll() -> None:
    # Poll 1 finds a block: the pass syncs it and the next poll is still due at 2.0 (not an
    # extra poll at once, nor an interval after one: 1.3, 2.3, 3.3 drifted by each block).
    assert await polls([0.3] * 5, mine_at=frozenset({1, 3})) == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_an_overrun_polls_again_at_once_without_a_burst() -> None:
    # 1.4 s overruns the slot: the next poll at once (1.4, late within the slot 1.0-2.0),
    # then the grid again (2.0). 3.5 s overruns by more than a slot: one poll at once (5.5),
    # and the grid restarts from it; never several polls queued to catch up.
    assert await polls([1.4, 0.1, 3.5, 0.1, 0.1]) == [0.0, 1.4, 2.0, 5.5, 6.5]


def test_a_bad_or_partial_push_is_not_a_header() -> None:
    good = {"number": "0x10", "timestamp": "0x5", "hash": "0x" + "ab" * 32}
    assert pushed_header(good | {"parentHash": "0x" + "CD" * 32}, 1.0) is not None
    cases: tuple[object, ...] = (
        None,
        [],
        good,  # no parentHash
        good | {"parentHash": "0x12"},
        good | {"parentHash": "0x" + "cd" * 32, "number": "ten"},
        good | {"parentHash": 5},
    )
    for bad in cases:
        assert pushed_header(bad, 1.0) is None


def push(heads: Heads, rpc: FakeRpc, number: int | None = None) -> None:
    """The node pushes the header of block `number` (default: its head), as newHeads does."""
    block = rpc.blocks[rpc.head.number if number is None else number]
    heads.push(pushed_header(block.header()))


async def follow_pushed(rpc: FakeRpc, store: FakeStore) -> tuple[Follower, Heads, Running]:
    heads = Heads()
    # Polling alone would take a minute: only the pushes move it.
    follower = make_follower(rpc, store, poll_interval=60.0)
    follower.heads = heads
    run = Running(follower)
    await run.until(at_head(store, rpc))
    return follower, heads, run


async def test_a_pushed_head_costs_one_get_logs_and_is_observed() -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(5, events=1)
    follower, heads, run = await follow_pushed(rpc, store)
    fetched = metrics.TIP_SECONDS.labels(stage="logs_fetched")._sum.get()
    for _ in range(3):
        rpc.calls.clear()
        rpc.mine(events=1)
        push(heads, rpc)
        await run.until(at_head(store, rpc))
        # No eth_blockNumber, no header of the new block or of our tip: one eth_getLogs.
        assert dict(rpc.calls) == {"eth_getLogs": 1}
        assert heads.latest is not None
        assert store.seen[-1] == heads.latest.seen_at  # the tip's batch: its stages observed
    await run.finish()
    assert follower.saved == 3
    assert metrics.TIP_SECONDS.labels(stage="logs_fetched")._sum.get() > fetched


async def test_a_push_that_does_not_extend_our_tip_is_checked_and_the_reorg_reverted() -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(6, events=1)
    _, heads, run = await follow_pushed(rpc, store)
    reorgs = metrics.REORGS._value.get()
    rpc.reorg(2, events=1)
    rpc.mine(events=1)
    push(heads, rpc)  # its parent is not our tip: the tip's hash is asked and the reorg found
    await run.until(at_head(store, rpc))
    await run.finish()
    assert metrics.REORGS._value.get() == reorgs + 1
    assert set(store.live) == rpc.keys()


async def test_a_stale_push_falls_back_to_polling() -> None:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(4, events=1)
    _, heads, run = await follow_pushed(rpc, store)
    rpc.mine(events=1)
    rpc.calls.clear()
    push(heads, rpc, number=2)  # an old head (a reconnect replays one): the node is asked
    await run.until(at_head(store, rpc))
    await run.finish()
    assert rpc.calls["eth_blockNumber"] >= 1

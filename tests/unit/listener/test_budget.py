"""The backfill's memory bound: ranges sized by their logs, and a budget of logs in flight.

Pure logic (listener.ranges) and the follower's real loop on the in-memory fakes: a dense
chain must never have more logs fetched and not yet committed than the budget (plus one
block, which cannot be split), whatever the block limits allow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.ranges import RangeCursor, RangeSizer, plan_more
from listener.rpc_answer import AnswerTooLargeError
from listener.store_types import Batch, IngestResult
from tests.support.recording_store import Recording
from tests.unit.listener.fake_rpc import CHAIN_ID, TOKEN, FakeRpc
from tests.unit.listener.fake_store import FakeStore


def test_a_dense_range_is_sized_by_its_logs_not_its_blocks() -> None:
    sizer = RangeSizer(initial=2_000, maximum=50_000, max_results=5_000)
    sizer.succeeded(10, results=3_790)  # 379 logs a block
    first, last = sizer.take(100, 10**9) or (0, 0)
    assert (last - first + 1) * 379 <= 5_000  # blocks alone would allow 2,000 blocks
    assert last - first + 1 == 13
    assert sizer.expected(first, last) == 13 * 379


def test_sparse_blocks_keep_the_block_limits() -> None:
    sizer = RangeSizer(initial=2_000, maximum=50_000, max_results=5_000)
    assert sizer.take(0, 10**9) == (0, 99)  # nothing known yet: a short first range
    assert sizer.expected(0, 99) is None
    sizer.succeeded(100, results=1)
    assert sizer.take(100, 10**9) == (100, 2_099)  # quiet: the starting size
    sizer.succeeded(2_000, results=20)
    assert sizer.take(2_000, 10**9) == (2_000, 5_999)  # grew by doubling
    sizer.succeeded(4_000, results=0)
    assert sizer.take(6_000, 10**9) == (6_000, 13_999)


def test_a_quiet_answer_lowers_the_density_by_half_at_most() -> None:
    sizer = RangeSizer(initial=100, maximum=100, max_results=1_000)
    sizer.succeeded(10, results=1_000)  # 100 a block: ranges of 10
    sizer.succeeded(10, results=0)  # the blocks before a burst: no proof of quiet
    assert sizer.density == 50
    assert sizer.take(0, 10**9) == (0, 19)
    sizer.succeeded(20, results=0)
    assert sizer.take(0, 10**9) == (0, 39)


def test_a_cursor_sizes_each_part_by_the_density_of_the_last_answer() -> None:
    sizer = RangeSizer(initial=1_000, maximum=1_000, max_results=100)
    cursor = RangeCursor(0, 99, sizer)
    assert cursor.accept(results=50) == (0, 99)  # 0.5 a block: 200 blocks hold 100
    assert cursor.done
    cursor = RangeCursor(1_000, 1_999, sizer)
    assert cursor.current == (1_000, 1_199)
    assert cursor.accept(results=1_000) == (1_000, 1_199)  # denser: 5 a block
    assert cursor.current == (1_200, 1_219)


def test_ranges_start_only_within_the_budget_and_the_concurrency() -> None:
    assert plan_more([], None, 100, 4)  # nothing in flight: always, however large
    assert plan_more([], 10_000, 100, 4)
    assert not plan_more([10], None, 100, 4)  # the density unknown: only alone
    assert plan_more([30, 30], 40, 100, 4)
    assert not plan_more([30, 30], 41, 100, 4)  # past the budget
    assert not plan_more([1, 1, 1, 1], 1, 100, 4)  # past the concurrency
    assert plan_more([0, 0, 0], 0, 100, 4)  # quiet ranges: only the concurrency bounds them


class CappedRpc(FakeRpc):
    """A node behind a client that refuses answers of several blocks past `cap` logs (as
    RpcClient does past `max_log_bytes`), counting the logs fetched and not yet committed."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self.outstanding = 0
        self.most = 0

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        logs = await super().get_logs(from_block, to_block, addresses)
        if to_block > from_block and len(logs) > self.cap:
            error = AnswerTooLargeError("too large", size=len(logs))
            error.suggest(from_block, to_block, self.cap)
            raise error
        self.outstanding += len(logs)
        self.most = max(self.most, self.outstanding)
        return logs


class CountingStore(Recording, FakeStore):
    """Gives back the logs of each committed batch to the node's count."""

    def __init__(self, rpc: CappedRpc) -> None:
        super().__init__()
        self.rpc = rpc

    async def committed(self, batch: Batch, result: IngestResult) -> None:
        self.rpc.outstanding -= len(batch.logs)
        await asyncio.sleep(0.001)  # a commit takes a while: ranges queue up meanwhile


async def test_a_dense_backfill_holds_no_more_than_the_budget_and_stores_everything_once() -> None:
    # 1,200 logs in blocks of 30: ranges of 2,000 blocks would take them at once, and each
    # block is denser than a range's share (120 / 16 = 7 logs), so 16 ranges of one block
    # would hold 480.
    rpc = CappedRpc(cap=21)  # RpcClient's cap: about three times the share
    rpc.mine_many(3, events=0)
    rpc.mine_many(40, events=30)
    store = CountingStore(rpc)
    config = FollowerConfig(
        chain_id=CHAIN_ID, reorg_window=8, concurrency=16, max_logs_in_flight=120
    )
    follower = Follower(
        rpc=rpc, store=store, decoder=Decoder(CHAIN_ID, {TOKEN: "Issuance"}), config=config
    )
    assert config.batch_blocks == 2_000  # the default
    stop = asyncio.Event()
    await follower.resume()
    await follower.sync(rpc.head.number, rpc.head.number, stop)
    assert store.point == (rpc.head.number, rpc.head.hash)
    assert set(store.live) == rpc.keys()
    assert len(store.live) == 1_200
    assert [item.id for item in store.feed] == list(range(1, 1_201))
    # Never more fetched and uncommitted than the budget, save one block that cannot split.
    assert rpc.most <= 120 + 30
    assert max(store.batches) <= 120 // 2 + 30


async def test_a_range_denser_than_foreseen_ends_early_and_its_rest_comes_before_the_next() -> None:
    # Quiet blocks size the ranges at 30 blocks; the dense blocks after them make those ranges
    # end at their share, while the ranges planned behind them are already in flight.
    rpc = CappedRpc(cap=90)  # RpcClient's cap: about three times the share
    rpc.mine_many(60, events=1)
    rpc.mine_many(30, events=12)
    rpc.mine_many(60, events=1)
    store = CountingStore(rpc)
    config = FollowerConfig(
        chain_id=CHAIN_ID, reorg_window=8, concurrency=4, max_logs_in_flight=120
    )
    follower = Follower(
        rpc=rpc, store=store, decoder=Decoder(CHAIN_ID, {TOKEN: "Issuance"}), config=config
    )
    await follower.resume()
    await follower.sync(rpc.head.number, rpc.head.number, asyncio.Event())
    assert store.point == (rpc.head.number, rpc.head.hash)
    assert set(store.live) == rpc.keys()
    assert [item.id for item in store.feed] == list(range(1, 481))
    # One round of ranges sized for the quiet blocks meets the dense ones: each holds at most
    # an answer under the cap (and one block), until the density has caught up.
    assert rpc.most <= 4 * (90 + 12)

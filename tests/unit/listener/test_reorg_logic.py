"""Reorg decisions: common ancestor, lagging node, deep reorg, header linkage; progress lines."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest

from listener.fetch import ChainMovedError, Fetched, check_fetched, fetch_range
from listener.ports import RangeTooLargeError, RpcError
from listener.progress import Progress, format_eta
from listener.ranges import RangeSizer
from listener.reorg import DeepReorgError, Header, linked, walk_back, window


def h(tag: str, n: int) -> str:
    """A fake block hash of fork `tag` at height n."""
    return "0x" + (f"{tag}{n}".encode().hex()).rjust(64, "0")


def fork(stored_tip: int, fork_at: int, chain_tip: int) -> tuple[dict[int, str], dict[int, str]]:
    """Stored blocks 0..stored_tip on fork 'a'; the chain has 'a' up to fork_at, then 'b'."""
    stored = {n: h("a", n) for n in range(stored_tip + 1)}
    chain = {n: h("a", n) if n <= fork_at else h("b", n) for n in range(chain_tip + 1)}
    return stored, chain


def fetcher(chain: dict[int, str]):  # type: ignore[no-untyped-def]
    asked: list[int] = []

    async def chain_hash(number: int) -> str | None:
        asked.append(number)
        return chain.get(number)

    return chain_hash, asked


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 7])
async def test_the_ancestor_is_the_highest_block_still_on_the_chain(depth: int) -> None:
    stored, chain = fork(20, 20 - depth, 21)
    chain_hash, asked = fetcher(chain)
    verdict = await walk_back(chain_id=1, stored=window(stored, 20, 10), chain_hash=chain_hash)
    assert verdict.ancestor == 20 - depth
    assert not verdict.lagging
    # Walked newest first and stopped at the ancestor.
    assert asked == list(range(20, 20 - depth - 1, -1))


async def test_a_node_behind_us_is_lagging_not_a_reorg() -> None:
    stored, chain = fork(20, 20, 17)
    chain_hash, _ = fetcher(chain)
    verdict = await walk_back(chain_id=1, stored=window(stored, 20, 10), chain_hash=chain_hash)
    assert verdict.lagging
    assert verdict.ancestor is None


async def test_a_reorg_deeper_than_the_window_raises_with_an_instruction() -> None:
    stored, chain = fork(20, 14, 21)
    chain_hash, _ = fetcher(chain)
    kept = window(stored, 20, 2)
    assert sorted(kept) == [18, 19, 20]
    with pytest.raises(DeepReorgError) as info:
        await walk_back(chain_id=31337, stored=kept, chain_hash=chain_hash)
    message = str(info.value)
    assert "chain 31337" in message
    assert "18 to 20" in message
    assert "dpo listener --rewind 17" in message
    assert (info.value.lowest, info.value.highest) == (18, 20)


async def test_a_reorg_of_exactly_the_window_is_still_handled() -> None:
    stored, chain = fork(20, 18, 21)
    chain_hash, _ = fetcher(chain)
    verdict = await walk_back(chain_id=1, stored=window(stored, 20, 2), chain_hash=chain_hash)
    assert verdict.ancestor == 18


async def test_sparse_stored_blocks_give_the_highest_matching_one() -> None:
    stored, chain = fork(100, 60, 101)
    sparse = {n: stored[n] for n in (40, 50, 70, 100)}
    chain_hash, _ = fetcher(chain)
    verdict = await walk_back(chain_id=1, stored=sparse, chain_hash=chain_hash)
    assert verdict.ancestor == 50


async def test_nothing_stored_means_nothing_to_compare() -> None:
    chain_hash, asked = fetcher({})
    verdict = await walk_back(chain_id=1, stored={}, chain_hash=chain_hash)
    assert verdict.ancestor is None
    assert not verdict.lagging
    assert asked == []


def test_headers_must_chain_by_parent_hash() -> None:
    good = [Header(n, h("a", n), h("a", n - 1)) for n in range(5, 10)]
    assert linked(good)
    broken = [*good[:2], Header(7, h("b", 7), h("b", 6)), *good[3:]]
    assert not linked(broken)
    # A gap is not a break: only neighbours are compared.
    assert linked([good[0], good[2]])
    assert linked([])


def test_progress_reports_rate_and_eta_as_log_lines_off_a_terminal() -> None:
    now = [0.0]
    progress = Progress(stream=io.StringIO(), every=10.0, clock=lambda: now[0])
    assert progress.update(100, 1100) is None
    now[0] = 5.0
    assert progress.update(300, 1100) is None  # within the reporting interval
    now[0] = 10.0
    line = progress.update(600, 1100)
    assert line is not None
    assert "block 600/1100" in line
    assert "50.0 blocks/s" in line
    assert "eta 0:00:10" in line
    now[0] = 11.0
    final = progress.update(1100, 1100)  # reaching the target always reports
    assert final is not None
    assert "eta 0:00:00" in final
    now[0] = 12.0
    assert progress.update(1101, 1101) is None  # then only every interval
    now[0] = 22.0
    assert progress.update(1110, 1110) is not None


def test_eta_formatting() -> None:
    assert format_eta(None) == "?"
    assert format_eta(3725.9) == "1:02:05"


class RefusingRpc:
    """A provider double with one log per block that refuses ranges over `limit` blocks."""

    def __init__(self, limit: int, *, with_timestamps: bool = True) -> None:
        self.limit = limit
        self.with_timestamps = with_timestamps
        self.blocks_asked: list[int] = []
        self.refusals = 0

    async def chain_id(self) -> int:
        return 1

    async def block_number(self) -> int:
        return 10_000

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        assert isinstance(block, int)
        self.blocks_asked.append(block)
        return {
            "number": block,
            "hash": h("a", block),
            "parentHash": h("a", block - 1),
            "timestamp": 1_700_000_000 + block,
        }

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        return [await self.get_block(n) for n in numbers]

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        if to_block - from_block + 1 > self.limit:
            self.refusals += 1
            raise RangeTooLargeError("block range is too wide")
        logs: list[dict[str, Any]] = []
        for n in range(from_block, to_block + 1):
            log = {"blockNumber": hex(n), "blockHash": h("a", n), "logIndex": "0x0"}
            if self.with_timestamps:
                log["blockTimestamp"] = hex(1_700_000_000 + n)
            logs.append(log)
        return logs

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
        raise AssertionError("every block has a log: no pinned query is needed")

    def report_inconsistent(self) -> None:
        raise AssertionError("no answer of this double is refused")

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("first", "last", "limit"), [(0, 0, 1), (5, 40, 3), (1, 64, 7), (100, 163, 64)]
)
async def test_a_fetched_range_has_every_blocks_logs_once_and_the_needed_headers(
    first: int,
    last: int,
    limit: int,
) -> None:
    rpc = RefusingRpc(limit)
    sizer = RangeSizer(initial=64, maximum=64)
    fetched = await fetch_range(rpc, sizer, ["0x" + "11" * 20], first, last, last - 4)
    assert [int(log["blockNumber"], 16) for log in fetched.logs] == list(range(first, last + 1))
    # The window's headers and the last block's, no others (the logs carry timestamps).
    assert sorted(rpc.blocks_asked) == list(range(max(first, last - 4), last + 1))
    # The limit is learnt: a few refusals, not one after every success.
    assert rpc.refusals <= 7
    check_fetched(fetched, (first - 1, h("a", first - 1)))


async def test_logs_without_timestamps_fetch_their_blocks_headers() -> None:
    rpc = RefusingRpc(100, with_timestamps=False)
    fetched = await fetch_range(rpc, RangeSizer(initial=8, maximum=8), [], 10, 20, 100)
    assert sorted(rpc.blocks_asked) == list(range(10, 21))
    assert fetched.timestamps[15] == 1_700_000_015


class ForgetfulRpc(RefusingRpc):
    """Answers its first eth_getLogs with nothing, though its blocks have logs."""

    def __init__(self) -> None:
        super().__init__(100)
        self.answered = False
        self.inconsistent = 0

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        logs = await super().get_logs(from_block, to_block, addresses)
        first, self.answered = not self.answered, True
        return [] if first else logs

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
        return [{"blockHash": block_hash}]

    def report_inconsistent(self) -> None:
        self.inconsistent += 1


async def no_pause(_: float) -> None:
    return None


async def test_a_pushed_header_is_not_fetched_until_the_node_disagrees() -> None:
    rpc = RefusingRpc(100)
    pushed = await rpc.get_block(20)
    rpc.blocks_asked.clear()
    sizer = RangeSizer(initial=16, maximum=16)
    fetched = await fetch_range(rpc, sizer, [], 10, 20, 16, pushed=pushed)
    assert sorted(rpc.blocks_asked) == list(range(16, 20))
    assert (fetched.saved, fetched.headers[-1].hash) == (1, h("a", 20))
    # An answer refused before the pushed block's header was needed: the node is asked.
    forgetful = ForgetfulRpc()
    small = RangeSizer(initial=4, maximum=4)  # refused in 10..13, before block 20 is needed
    fetched = await fetch_range(forgetful, small, [], 10, 20, 16, pause=no_pause, pushed=pushed)
    assert forgetful.inconsistent == 1
    assert 20 in forgetful.blocks_asked
    assert fetched.saved == 0


def fetched_range(logs_hash: str = "a", tip_hash: str = "a") -> tuple[Fetched, tuple[int, str]]:
    headers = [Header(n, h("a", n), h("a", n - 1)) for n in range(5, 8)]
    logs = [{"blockNumber": hex(6), "blockHash": h(logs_hash, 6)}]
    return Fetched(5, 7, logs, headers), (4, h(tip_hash, 4))


def test_a_consistent_range_passes_and_inconsistent_ones_are_fetched_again() -> None:
    check_fetched(*fetched_range())
    with pytest.raises(ChainMovedError, match="orphaned"):
        check_fetched(*fetched_range(logs_hash="b"))
    with pytest.raises(ChainMovedError, match="does not follow our tip"):
        check_fetched(*fetched_range(tip_hash="b"))
    fetched, tip = fetched_range()
    fetched.logs[0]["removed"] = True
    with pytest.raises(ChainMovedError, match="orphaned"):
        check_fetched(fetched, tip)
    fetched, tip = fetched_range()
    fetched.headers[1] = Header(6, h("b", 6), h("b", 5))
    with pytest.raises(ChainMovedError, match="do not chain"):
        check_fetched(fetched, tip)


async def test_a_refused_single_block_is_a_retryable_provider_error() -> None:
    rpc = RefusingRpc(0)
    with pytest.raises(RpcError, match="single block 3") as info:
        await fetch_range(rpc, RangeSizer(initial=4, maximum=4), [], 3, 6, 0)
    assert info.value.retryable


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_one_rewritten_line_on_a_terminal() -> None:
    now = [0.0]
    stream = Terminal()
    progress = Progress(stream=stream, clock=lambda: now[0])
    progress.update(0, 100)
    now[0] = 1.0
    progress.update(50, 100)
    now[0] = 2.0
    progress.update(100, 100)
    now[0] = 2.1
    assert progress.update(101, 101) is None  # following the head: not every block
    output = stream.getvalue()
    assert output.count("\r") == 2
    assert "\n" not in output
    assert "[###############---------------] block 50/100" in output
    assert "[##############################] block 100/100" in output

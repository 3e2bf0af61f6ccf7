"""The proof of range (listener.fetch) against a provider double whose nodes may lag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from listener import metrics
from listener.bloom import AddressBloom, bloom_mask, parse_bloom
from listener.dberrors import describe, is_transient_db_error
from listener.fetch import REFUSAL_RETRIES, ChainMovedError, RefusedAnswerError, fetch_range
from listener.ports import RpcError
from listener.ranges import RangeSizer

OURS = "0x" + "ab" * 20
THEIRS = "0x" + "cd" * 20


def h(n: int) -> str:
    return "0x" + f"{n:064x}"


class Chain:
    """Blocks 0..head; `logged` blocks hold one log of ours. Answers may lag `behind` blocks."""

    def __init__(
        self,
        head: int,
        logged: set[int],
        *,
        false_positive: set[int] | None = None,
        no_bloom: set[int] | None = None,
    ) -> None:
        self.head = head
        self.logged = logged
        self.false_positive = false_positive or set()
        self.no_bloom = no_bloom or set()
        self.lagging_answers = 0  # the next N eth_getLogs answers come from a lagging node
        self.behind = 3
        self.missing_headers: set[int] = set()
        self.pinned: list[int] = []
        self.reported = 0

    def log(self, n: int) -> dict[str, Any]:
        return {
            "blockNumber": hex(n),
            "blockHash": h(n),
            "logIndex": "0x0",
            "address": OURS,
            "blockTimestamp": hex(1000 + n),
        }

    async def chain_id(self) -> int:
        return 1

    async def block_number(self) -> int:
        return self.head

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        assert isinstance(block, int)
        if block in self.missing_headers:
            return None
        mask = (
            bloom_mask(bytes.fromhex(OURS[2:]))
            if (block in self.logged or block in self.false_positive)
            else 0
        )
        bloom = None if block in self.no_bloom else "0x" + f"{mask:0512x}"
        return {
            "number": block,
            "hash": h(block),
            "parentHash": h(block - 1),
            "timestamp": 1000 + block,
            "logsBloom": bloom,
        }

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        return [await self.get_block(n) for n in numbers]

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        last = to_block
        if self.lagging_answers > 0:
            self.lagging_answers -= 1
            last = min(to_block, self.head - self.behind)
        return [self.log(n) for n in range(from_block, last + 1) if n in self.logged]

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
        number = int(block_hash, 16)
        self.pinned.append(number)
        return [self.log(number)] if number in self.logged else []

    def report_inconsistent(self) -> None:
        self.reported += 1

    async def aclose(self) -> None:
        return None


class Pauses:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def missing() -> float:
    value: float = metrics.RPC_INCONSISTENT.labels(reason="missing_logs")._value.get()
    return value


async def fetch(chain: Chain, first: int, last: int, pauses: Pauses | None = None) -> list[int]:
    fetched = await fetch_range(
        chain,
        RangeSizer(initial=64, maximum=64),
        [OURS],
        first,
        last,
        last - 2,
        pause=pauses or Pauses(),
    )
    return [int(log["blockNumber"], 16) for log in fetched.logs]


async def test_an_honest_answer_needs_no_pinned_query_where_the_bloom_says_nothing() -> None:
    chain = Chain(20, {3, 9, 20})
    assert await fetch(chain, 0, 20) == [3, 9, 20]
    assert chain.pinned == []
    assert chain.reported == 0


async def test_a_lagging_answer_is_refused_counted_and_asked_again() -> None:
    chain = Chain(20, {3, 18, 19, 20})
    chain.lagging_answers = 1  # answered as a node 3 blocks behind: 18..20 missing
    pauses = Pauses()
    before = missing()
    assert await fetch(chain, 0, 20, pauses) == [3, 18, 19, 20]
    assert missing() == before + 1
    assert chain.reported == 1  # the client is told, so it prefers its other URL
    assert pauses.delays == [0.1]
    assert set(chain.pinned) == {18, 19, 20}  # the blocks the bloom named, without logs


async def test_an_empty_answer_below_the_finalized_head_is_refused_too() -> None:
    chain = Chain(1000, {5, 6})
    chain.behind = 1000  # a node without the receipts answers nothing at all
    chain.lagging_answers = 2
    assert await fetch(chain, 0, 10) == [5, 6]
    assert chain.reported == 2


async def test_repeated_refusals_back_off_then_give_up_to_the_follower() -> None:
    chain = Chain(20, {19})
    chain.lagging_answers = 100
    pauses = Pauses()
    with pytest.raises(RefusedAnswerError, match=r"blocks 0\.\.20 lacked the logs") as info:
        await fetch(chain, 0, 20, pauses)
    assert info.value.reason == "missing_logs"
    assert chain.reported == REFUSAL_RETRIES + 1
    assert pauses.delays == [0.1 * 2**i for i in range(REFUSAL_RETRIES)]
    assert isinstance(info.value, ChainMovedError)  # never committed: the range is fetched again


async def test_a_bloom_false_positive_is_settled_by_the_pinned_query() -> None:
    chain = Chain(20, {4}, false_positive={7, 12}, no_bloom={15})
    assert await fetch(chain, 0, 20) == [4]
    assert sorted(chain.pinned) == [7, 12, 15]  # a header without a bloom is asked too
    assert chain.reported == 0


async def test_a_log_outside_the_range_and_a_missing_header_are_refused() -> None:
    chain = Chain(20, {30})
    original = chain.get_logs

    async def stray(from_block: int, to_block: int, addresses: Sequence[str]) -> list[Any]:
        return [chain.log(30)]

    chain.get_logs = stray  # type: ignore[method-assign]
    with pytest.raises(RefusedAnswerError) as info:
        await fetch(chain, 0, 20)
    assert info.value.reason == "out_of_range"
    chain.get_logs = original  # type: ignore[method-assign]
    chain.missing_headers = {11}
    pauses = Pauses()
    with pytest.raises(ChainMovedError, match="no block 11") as moved:
        await fetch(chain, 0, 20, pauses)
    assert moved.value.reason == "missing_block"
    assert len(pauses.delays) == 3


def test_bloom_bits_and_parsing() -> None:
    mask = bloom_mask(bytes.fromhex(OURS[2:]))
    assert bin(mask).count("1") in (1, 2, 3)  # three bits, which may coincide
    bloom = AddressBloom([OURS, THEIRS])
    assert bloom.may_log(mask)
    assert not bloom.may_log(0)
    assert parse_bloom("0x" + "00" * 256) == 0
    assert parse_bloom("0x" + "ff" * 256) == 2**2048 - 1
    assert parse_bloom(bytes(256)) == 0
    for bad in (None, "0x12", "0x" + "zz" * 256, b"\x00" * 10, 7):
        assert parse_bloom(bad) is None


def test_transient_database_errors_are_told_from_the_others() -> None:
    import asyncpg
    from sqlalchemy.exc import DBAPIError, IntegrityError

    terminated = asyncpg.exceptions.AdminShutdownError("terminating connection")
    timed_out = asyncpg.exceptions.QueryCanceledError("canceling statement due to timeout")
    unique = asyncpg.exceptions.UniqueViolationError("duplicate key")
    for error in (
        terminated,
        timed_out,
        asyncpg.exceptions.DeadlockDetectedError("d"),
        asyncpg.exceptions.ConnectionDoesNotExistError("closed"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError(),
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        DBAPIError("SELECT 1", None, timed_out),
    ):
        assert is_transient_db_error(error), error
    wrapped = RuntimeError("while committing")
    wrapped.__cause__ = terminated
    assert is_transient_db_error(wrapped)
    for other in (
        unique,
        IntegrityError("INSERT", None, unique),
        ValueError("bug"),
        RpcError("provider"),
        FileNotFoundError("x"),
    ):
        assert not is_transient_db_error(other), other
    assert describe(DBAPIError("SELECT 1", None, timed_out)) == (
        "QueryCanceledError (SQLSTATE 57014)"
    )

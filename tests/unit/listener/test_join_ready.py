"""join_ready: prepared ranges behind the current one join it, within the limits."""

from __future__ import annotations

import asyncio
from collections import deque

from listener.decode import DecodedLog
from listener.fetch import Fetched
from listener.prepare import Prepared, join_ready
from listener.reorg import Header
from listener.store_rows import prepare_batch
from listener.store_types import Batch, BlockHeader


def h(tag: str, n: int) -> str:
    return "0x" + f"{tag}{n}".encode().hex().ljust(64, "0")


def prepared(first: int, last: int, events: int, *, parent_tag: str = "b") -> Prepared:
    """Blocks first..last (hashes b<n>), `events` Paused logs in the last block."""
    headers = [
        Header(n, h("b", n), h(parent_tag if n == first else "b", n - 1))
        for n in range(first, last + 1)
    ]
    logs = [
        DecodedLog(
            1,
            "0x" + "ab" * 20,
            "Issuance",
            "Paused",
            last,
            h("b", last),
            h("t", last * 1000 + i),
            0,
            i,
            {},
        )
        for i in range(events)
    ]
    batch = Batch(
        1, first, last, [BlockHeader(x.number, x.hash, x.parent_hash, 0) for x in headers], logs
    )
    fetched = Fetched(first, last, [], headers, {x.number: 0 for x in headers})
    return Prepared(fetched, batch, prepare_batch(batch))


def done(value: Prepared) -> asyncio.Task[Prepared]:
    async def result() -> Prepared:
        return value

    return asyncio.get_running_loop().create_task(result())


async def test_ready_ranges_join_up_to_the_event_limit_and_stop_at_a_pending_one() -> None:
    pending = deque([done(prepared(3, 4, 2)), done(prepared(5, 6, 2)), done(prepared(7, 7, 1))])
    await asyncio.sleep(0)
    waiting = asyncio.get_running_loop().create_future()
    pending.append(waiting)  # type: ignore[arg-type]
    joined = join_ready(prepared(1, 2, 1), pending, 5)
    assert (joined.batch.from_block, joined.batch.to_block) == (1, 6)
    assert (joined.fetched.first, joined.fetched.last) == (1, 6)
    assert [x.number for x in joined.fetched.headers] == [1, 2, 3, 4, 5, 6]
    assert len(joined.rows.logs) == 5
    assert len(pending) == 2  # 7..7 would pass the limit; it is applied on its own
    alone = join_ready(pending.popleft().result(), pending, 50)
    assert (alone.batch.from_block, alone.batch.to_block) == (7, 7)  # the next is not done
    waiting.cancel()


async def test_a_range_that_does_not_follow_on_is_left_for_its_own_turn() -> None:
    forked = done(prepared(3, 4, 1, parent_tag="x"))
    pending = deque([forked])
    await asyncio.sleep(0)
    joined = join_ready(prepared(1, 2, 1), pending, 50)
    assert joined.batch.to_block == 2
    assert list(pending) == [forked]

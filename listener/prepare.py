"""A range fetched, proven and decoded into its batch and rows, off the database's critical path.

`prepare_range` runs in the range's fetch task (listener.follower.Follower.sync), so this work
overlaps the database work of the batches before it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from listener.decode import Decoder
from listener.fetch import Fetched, check_consistent, fetch_range, to_int
from listener.ports import Rpc
from listener.ranges import RangeSizer
from listener.store_rows import PreparedBatch, concat_rows, join_batches, prepare_batch
from listener.store_types import Batch, BlockHeader

# Logs decoded between two yields to the event loop (a few milliseconds of work).
DECODE_CHUNK = 500


@dataclass
class Prepared:
    """A fetched range decoded into its batch and rows (the raw logs already dropped)."""

    fetched: Fetched
    batch: Batch
    rows: PreparedBatch
    # When it was ready (time.time()): the tip's `logs_fetched` stage (listener.heads).
    ready_at: float = 0.0


@dataclass(frozen=True)
class RangeSource:
    """Where ranges come from and how they are decoded: one follower's fixed parts."""

    rpc: Rpc
    sizer: RangeSizer
    decoder: Decoder
    addresses: Sequence[str]
    chain_id: int
    # One range decodes at a time (decode_range): bounds the memory of raw logs.
    decoding: asyncio.Lock


async def prepare_range(
    source: RangeSource,
    first: int,
    last: int,
    window_start: int,
    pushed: dict[str, Any] | None = None,
) -> Prepared:
    """Fetch and prove a range, check it is consistent in itself, decode it.

    `pushed` is the header of the head that woke this pass (listener.heads), its block not
    fetched again. The raw logs are dropped here (they are the bulk of the memory).
    """
    fetched = await fetch_range(
        source.rpc, source.sizer, source.addresses, first, last, window_start, pushed=pushed
    )
    check_consistent(fetched)
    keep_headers(fetched, window_start)
    batch, rows = await decode_range(source.decoder, source.chain_id, fetched, source.decoding)
    return Prepared(fetched, batch, rows, time.time())


def join_ready(
    ready: Prepared, pending: deque[asyncio.Task[Prepared]], max_events: int
) -> Prepared:
    """Join the ranges already prepared behind `ready` into one batch.

    When the database is the bottleneck, prepared ranges queue up: committing them together
    (up to `max_events` logs) halves the per-transaction costs. A range that does not follow
    on is left to fail on its own turn, as it would unjoined.
    """
    while (
        pending
        and pending[0].done()
        and not pending[0].cancelled()
        and pending[0].exception() is None
    ):
        following = pending[0].result()
        if len(ready.rows.logs) + len(following.rows.logs) > max_events:
            break
        last = ready.fetched.headers[-1]
        first = following.fetched.headers[0]
        if (
            following.fetched.first != ready.fetched.last + 1
            or last.number != ready.fetched.last
            or (first.number == last.number + 1 and first.parent_hash != last.hash)
        ):
            break
        pending.popleft()
        a, b = ready.fetched, following.fetched
        batch, rows = join_batches((ready.batch, ready.rows), (following.batch, following.rows))
        ready = Prepared(
            Fetched(
                a.first,
                b.last,
                [],
                a.headers + b.headers,
                a.timestamps | b.timestamps,
                a.saved + b.saved,
            ),
            batch,
            rows,
            following.ready_at,
        )
    return ready


def keep_headers(fetched: Fetched, window_start: int) -> None:
    """Drop the headers fetched only for the proof of range.

    Kept: the first (to check that it follows our tip), the reorg window's (window + 1
    headers), the last (the checkpoint's hash) and those of blocks with logs (their time).
    """
    timed = {to_int(log["blockNumber"]) for log in fetched.logs}
    fetched.headers = [
        h
        for i, h in enumerate(fetched.headers)
        if i == 0 or h.number >= window_start or h.number == fetched.last or h.number in timed
    ]
    fetched.timestamps = {h.number: fetched.timestamps[h.number] for h in fetched.headers}


async def decode_range(
    decoder: Decoder, chain_id: int, fetched: Fetched, lock: asyncio.Lock
) -> tuple[Batch, PreparedBatch]:
    """Decode a range's raw logs into its batch and rows, freeing the raw logs as it goes."""
    blocks = [
        BlockHeader(
            number=h.number,
            hash=h.hash,
            parent_hash=h.parent_hash,
            timestamp=fetched.timestamps[h.number],
        )
        for h in fetched.headers
    ]
    raw, logs, parts = fetched.logs, [], []
    fetched.logs = []
    # One range at a time, its raw logs freed as they are decoded: bounds the memory.
    async with lock:
        while raw:
            chunk = decoder.decode_all(raw[:DECODE_CHUNK])
            del raw[:DECODE_CHUNK]
            parts.append(prepare_batch(Batch(chain_id, fetched.first, fetched.last, blocks, chunk)))
            logs += chunk
            # Let the batch being committed go on: the event loop must not be held for a
            # range's whole work while PostgreSQL waits for its COPY data or a statement.
            await asyncio.sleep(0)
    batch = Batch(chain_id, fetched.first, fetched.last, blocks, logs)
    rows = concat_rows(parts) if parts else None
    return batch, rows or prepare_batch(batch)

"""The newest head the node pushed (newHeads), and the tip's RPC calls it makes unnecessary.

With a ws(s):// RPC URL, `listener.service.watch_heads` records every pushed header here and
wakes the follower. A push carries the whole header (number, hash, parentHash, timestamp,
logsBloom), so the pass it wakes needs neither `eth_blockNumber` (the head is the pushed
number) nor the header of the new block (`eth_getBlockByNumber`): the follower hands the push
to that pass's range fetches (listener.fetch.fetch_range's `pushed`), which take the block's
header from it. A pushed header is a header from some node, which is all the proof of range
ever assumes of a header (docs/ARCHITECTURE.md, "Proof of range"); the logs still come from
`eth_getLogs` and are proven as always. The push is used only by the pass it woke (it is an
argument of that pass, not state): a failed pass, or the next poll, asks the node again.

`seen_at` (wall clock, time.time()) is when the head arrived, the zero of the tip's stage
histograms (listener.metrics.TIP_SECONDS) and of the web's frame histogram: the doorbell
carries it (listener.publish).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from listener import metrics
from listener.ports import Rpc
from listener.prepare import Prepared

__all__ = ["Heads", "Pushed", "extends", "observe_fetched", "read_head"]


class Pushed:
    """One pushed header (number and timestamp as ints, hashes lowercase) and when it came."""

    __slots__ = ("header", "number", "seen_at")

    def __init__(self, header: dict[str, Any], seen_at: float) -> None:
        self.header = header
        self.number = int(header["number"])
        self.seen_at = seen_at

    @property
    def hash(self) -> str:
        """The block's hash."""
        return str(self.header["hash"]).lower()

    @property
    def parent_hash(self) -> str:
        """The parent's hash."""
        return str(self.header["parentHash"]).lower()


def pushed_header(raw: Any, seen_at: float | None = None) -> Pushed | None:
    """A newHeads result as a Pushed header; None when it lacks a field the follower uses."""
    if not isinstance(raw, dict):
        return None
    try:
        header = dict(raw)
        for name in ("number", "timestamp"):
            value = header[name]
            header[name] = value if isinstance(value, int) else int(str(value), 16)
        for name in ("hash", "parentHash"):
            if not isinstance(header[name], str) or len(header[name]) != 66:
                return None
            header[name] = header[name].lower()
    except (KeyError, ValueError):
        return None
    return Pushed(header, time.time() if seen_at is None else seen_at)


class Heads:
    """The newest pushed head and the wake-up of the follower's idle wait."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.latest: Pushed | None = None

    def push(self, pushed: Pushed | None) -> None:
        """Record a pushed header (None: a head without a usable header) and wake the wait."""
        if pushed is not None and (self.latest is None or pushed.number >= self.latest.number):
            self.latest = pushed
        self.event.set()

    def take(self) -> Pushed | None:
        """Lower the flag (a later push wakes the next wait) and return the newest head."""
        self.event.clear()
        return self.latest

    def is_set(self) -> bool:
        """Whether a head arrived since the last `take`."""
        return self.event.is_set()

    async def wait(self) -> None:
        """Until the next push."""
        await self.event.wait()


async def read_head(
    heads: Heads | None, rpc: Rpc, seen: tuple[int, float]
) -> tuple[int, Pushed | None, tuple[int, float]]:
    """The head for a pass, the push it came from (None: polled), and the newest head seen.

    A push newer than the newest head seen is the head (no eth_blockNumber); otherwise the node
    is asked, and a higher answer is seen now.
    """
    pushed = heads.take() if heads is not None else None  # a later push wakes the next wait
    if pushed is not None and pushed.number > seen[0]:
        return pushed.number, pushed, (pushed.number, pushed.seen_at)
    head = await rpc.block_number()
    return head, None, ((head, time.time()) if head > seen[0] else seen)


def extends(pushed: Pushed | None, tip: tuple[int, str]) -> bool:
    """Whether a pushed head proves our tip is on the chain (no reorg check needed).

    Its block is our tip, or its parent is: the chain the node pushed holds our tip, so the
    tip's hash need not be asked for; any other push is checked against the node as always.
    """
    if pushed is None:
        return False
    if pushed.number == tip[0]:
        return pushed.hash == tip[1]
    return pushed.number == tip[0] + 1 and pushed.parent_hash == tip[1]


def observe_fetched(prepared: Prepared, seen: tuple[int, float]) -> float | None:
    """When the head a batch reaches was seen, its fetch observed; None for other batches.

    Only the batch holding the newest head seen is the tip's: a backfill range says nothing
    of the latency of a new block.
    """
    number, seen_at = seen
    fetched = prepared.fetched
    if not fetched.first <= number <= fetched.last:
        return None
    metrics.TIP_SECONDS.labels(stage="logs_fetched").observe(prepared.ready_at - seen_at)
    stamp = fetched.timestamps.get(number)
    if stamp is not None:
        metrics.HEAD_DELAY.observe(max(0.0, seen_at - stamp))
    return seen_at

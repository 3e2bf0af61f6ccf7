"""The metrics of the frames one fan-out pass writes, applied together when the pass ends.

The hub's fan-out writes one frame per subscriber in one synchronous pass; updating the
metrics per frame (prometheus_client takes a lock per `inc` and walks the buckets per
`observe`: three counters and two histograms) cost as much as the write itself. Here a frame
costs one append; one loop callback, scheduled by the pass's first frame, computes and adds
the counts and the observations: the same counts and buckets as one update per frame (each
frame is still one observation, taken at its write; sums equal up to float rounding), one
loop iteration later.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Sequence
from typing import Protocol

from prometheus_client import Histogram

from dpo.streaming import metrics
from dpo.streaming.items import SEEN, FeedItem

# The memo key of the item's insert time in Unix seconds (computed once per item).
CREATED = "created"


class Incrementable(Protocol):
    """A counter (or a labelled child of one)."""

    def inc(self, amount: float = 1) -> None:
        """Add to the counter."""


class FrameTally:
    """Frames written by the fan-out, (written at, item, shared, transport's counter)."""

    __slots__ = ("_due_on", "_frames")

    def __init__(self) -> None:
        self._frames: list[tuple[float, FeedItem, bool, Incrementable]] = []
        # The loop the flush is scheduled on (None: none is).
        self._due_on: asyncio.AbstractEventLoop | None = None

    def add(self, now: float, item: FeedItem, shared: bool, counter: Incrementable) -> None:
        """One frame written at `now`; `shared`: its payload was executed for another."""
        self._frames.append((now, item, shared, counter))
        due = self._due_on
        if due is None or due.is_closed():
            loop = asyncio.get_running_loop()
            self._due_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Add the frames' counts and observations to the metrics."""
        frames, self._frames = self._frames, []
        self._due_on = None
        shared = 0
        counts: dict[Incrementable, int] = {}
        delivery: list[float] = []
        seen_to_frame: list[float] = []
        for now, item, was_shared, counter in frames:
            memo = item.memo
            created = memo.get(CREATED)
            if created is None:
                created = memo[CREATED] = item.created_at.timestamp()
            delivery.append(max(0.0, now - created))
            seen = memo.get(SEEN)
            if seen is not None:
                seen_to_frame.append(max(0.0, now - seen))
            shared += was_shared
            counts[counter] = counts.get(counter, 0) + 1
        metrics.FANOUT_FRAMES.inc(len(frames))
        metrics.SHARED_FRAMES.inc(shared)
        for counter, count in counts.items():
            counter.inc(count)
        observe_all(metrics.DELIVERY_SECONDS, delivery)
        observe_all(metrics.FRAME_SECONDS, seen_to_frame)


def observe_all(histogram: Histogram, values: Sequence[float]) -> None:
    """`histogram.observe(v)` for each value: the same buckets, one update per bucket.

    Observing puts a value in the first bucket whose upper bound is at least the value (the
    last bound is +Inf), which is what `bisect_left` finds in the sorted bounds.
    """
    if not values:
        return
    bounds: list[float] = histogram._upper_bounds
    buckets = histogram._buckets
    per_bucket: dict[int, int] = {}
    for value in values:
        index = bisect_left(bounds, value)
        per_bucket[index] = per_bucket.get(index, 0) + 1
    histogram._sum.inc(sum(values))
    for index, count in per_bucket.items():
        buckets[index].inc(count)


# The process's tally: the fan-out runs on the one event loop of a web worker.
TALLY = FrameTally()

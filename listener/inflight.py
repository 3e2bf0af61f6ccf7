"""The backfill's ranges in flight: started within a budget of logs, handed out in block order.

Ranges are fetched and prepared concurrently (listener.prepare) but committed one after the
other, so what the listener holds at once is every range in flight. That is bounded by logs,
not blocks (docs/LISTENER.md, "Memory"): a range starts only while the logs of those in
flight (counted once prepared, else expected from the density) leave room for it
(ranges.plan_more), and a range denser than foreseen ends early at its share
(fetch.fetch_range), its rest fetched next, ahead of the ranges behind it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from listener.prepare import Prepared, RangeSource, join_ready, prepare_range
from listener.ranges import plan_more
from listener.waiting import until


class InFlight:
    """The ranges of [first, last] being fetched, at most `concurrency` and `limit` logs."""

    def __init__(
        self,
        source: RangeSource,
        *,
        first: int,
        last: int,
        window_start: int,
        limit: int,
        concurrency: int,
        pushed: dict[str, Any] | None = None,
    ) -> None:
        self.source = source
        # The header of the head that woke this pass (listener.heads), for the range holding it.
        self.pushed = pushed
        self.last = last
        self.window_start = window_start
        self.limit = limit
        self.concurrency = concurrency
        self.planned = first  # the first block no range covers yet
        self.pending: deque[asyncio.Task[Prepared]] = deque()
        self._starts: dict[asyncio.Task[Prepared], int] = {}
        self._expected: dict[asyncio.Task[Prepared], int] = {}
        # Logs of the batch handed out by `next`, until the next call (it is being committed).
        self.applying = 0

    @property
    def busy(self) -> bool:
        """Tell whether ranges remain to be started or handed out."""
        return self.planned <= self.last or bool(self.pending)

    def held(self, task: asyncio.Task[Prepared]) -> int:
        """The logs a range holds: its count once prepared, else what it is expected to."""
        if task.done() and not task.cancelled() and task.exception() is None:
            return len(task.result().rows.logs)
        return self._expected.get(task, 0)

    def fill(self) -> None:
        """Start ranges while the concurrency and the budget of logs allow."""
        sizer = self.source.sizer
        while self.planned <= self.last:
            taken = sizer.take(self.planned, self.last)
            assert taken is not None
            guess = sizer.expected(*taken)
            held = [self.held(task) for task in self.pending]
            if self.applying:
                held.append(self.applying)
            if not plan_more(held, guess, self.limit, self.concurrency):
                return
            self._start(*taken)
            self.planned = taken[1] + 1

    async def next(self, stop: asyncio.Event) -> Prepared:
        """The next range in block order, joined with the prepared ones behind it.

        Call it once the batch it handed out before is committed. Ranges start before and
        after (those after beside the batch being committed, within the budget); a batch
        joins ranges up to half the budget, so that the other half keeps fetching.
        """
        self.applying = 0
        self.fill()
        ready = join_ready(await until(stop, self.pending.popleft()), self.pending, self.limit // 2)
        end = ready.fetched.last
        if self.pending and end + 1 < self._starts[self.pending[0]]:
            # It ended early, denser than foreseen: its rest goes before the ranges behind.
            self._start(end + 1, self._starts[self.pending[0]] - 1, front=True)
        elif not self.pending and end < self.planned - 1:
            self.planned = end + 1
        live = set(self.pending)
        self._starts = {task: n for task, n in self._starts.items() if task in live}
        self._expected = {task: n for task, n in self._expected.items() if task in live}
        self.applying = len(ready.rows.logs)
        self.fill()
        return ready

    async def cancel(self) -> None:
        """Stop every range still in flight."""
        for task in self.pending:
            task.cancel()
        await asyncio.gather(*self.pending, return_exceptions=True)
        self.pending.clear()

    def _start(self, first: int, last: int, *, front: bool = False) -> None:
        sizer = self.source.sizer
        task = asyncio.create_task(
            prepare_range(self.source, first, last, self.window_start, self.pushed)
        )
        if front:
            self.pending.appendleft(task)
        else:
            self.pending.append(task)
        self._starts[task] = first
        # A range ends once it holds its share of the logs (fetch_range): at most the share
        # and the last block's logs, however many blocks it was given.
        share = sizer.max_results or self.limit
        guess = sizer.expected(first, last)
        block = round(sizer.density or 0)
        self._expected[task] = share if guess is None else min(guess, share + block)

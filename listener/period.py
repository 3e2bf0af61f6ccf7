"""The follower's polling period: a fixed grid of due times, not a sleep after each pass.

Sleeping a full interval after each pass made the interval a minimum gap: a pass of 300 ms at
a 1 s interval polled every 1.3 s, and an event waited 0.5 s + the pass on average. Here a
poll is due one interval after the previous one was due (no drift: the grid stays put
whatever a pass costs), so an event waits half an interval on average plus the pass that
finds it. A pass that overruns its slot is followed by the next one at once, and the grid
restarts from that poll: at most one late poll, never a burst to catch up. A pass woken early
by a pushed head restarts the grid from its own start (the next poll a full interval after
it); a pass that follows a busy one at once (after a reorg) leaves it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Wakeable(Protocol):
    """What ends a wait early (listener.heads.Heads)."""

    def is_set(self) -> bool:
        """Whether a wake-up is pending."""
        ...

    async def wait(self) -> None:
        """Until the next wake-up."""
        ...


class Period:
    """When the next poll is due, and the wait for it."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.due: float | None = None
        self.woken = False  # the last wait ended early, on a wake-up

    def started(self) -> None:
        """A poll starts now: set when the next one is due."""
        now, due, interval = self.clock(), self.due, self.interval
        woken, self.woken = self.woken, False
        if due is not None and now < due and not woken:
            return  # a pass right after a busy one: the poll due is still to come
        if due is None or now < due or now >= due + interval:
            # The first poll, one woken early, or one more than a slot late: restart the grid.
            self.due = now + interval
        else:
            self.due = due + interval  # on time, or late within its slot: keep the grid

    async def wait(self, wake: Wakeable | None = None) -> None:
        """Until the next poll is due (at once if it already is), or until `wake` fires."""
        delay = (self.due if self.due is not None else self.clock()) - self.clock()
        if delay <= 0:
            return
        if wake is None:
            await self.sleep(delay)
            return
        if wake.is_set():
            self.woken = True
            return
        sleeper = asyncio.ensure_future(self.sleep(delay))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            self.woken = waker.done() and not sleeper.done()
        finally:
            for task in (sleeper, waker):
                task.cancel()
            for task in (sleeper, waker):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

"""Sync progress with blocks/s and ETA: a bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

logger = logging.getLogger(__name__)

BAR_WIDTH = 30


def format_eta(seconds: float | None) -> str:
    """Seconds as h:mm:ss, or '?' when unknown."""
    if seconds is None:
        return "?"
    total = int(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


class Progress:
    """Tracks processed blocks against the target and reports them at most every `every` s."""

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = 0.2 if self.tty else every
        self.clock = clock
        self.started_at: float | None = None
        self.first_block = 0
        self.last_report = float("-inf")
        self.rate = 0.0
        self.caught_up = False

    def update(self, processed: int, target: int, *, events: int = 0) -> str | None:
        """Record that `processed` is committed and `target` is the goal; return any report."""
        now = self.clock()
        if self.started_at is None:
            self.started_at, self.first_block, self.last_report = now, processed, now
            return None
        elapsed = now - self.started_at
        if elapsed > 0:
            self.rate = (processed - self.first_block) / elapsed
        finished = processed >= target
        # Catching up is reported at once; following the head only every `every` seconds.
        first_finish = finished and not self.caught_up
        self.caught_up = finished
        if now - self.last_report < self.every and not first_finish:
            return None
        self.last_report = now
        line = self.line(processed, target)
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
        else:
            logger.info("sync progress: %s", line)
        return line

    def line(self, processed: int, target: int) -> str:
        """The progress line: bar, blocks, rate and ETA."""
        remaining = max(0, target - processed)
        eta = remaining / self.rate if self.rate > 0 else None
        done = (
            1.0
            if target <= self.first_block
            else ((processed - self.first_block) / (target - self.first_block))
        )
        filled = int(BAR_WIDTH * min(1.0, max(0.0, done)))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return (
            f"[{bar}] block {processed}/{target} {self.rate:.1f} blocks/s "
            f"eta {format_eta(eta if remaining else 0.0)}"
        )

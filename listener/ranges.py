"""Adaptive block ranges for eth_getLogs: sized by the logs they hold, not only by blocks.

A range's memory is its logs, and how many logs a block holds differs by orders of magnitude
between chains and stretches of one chain (2,000 blocks were 72k logs on a dense chain and
none on a quiet one). So the sizer learns the density (logs per block) of the last answer and
hands out ranges expected to hold about `max_results` logs, within the block limits. Until
the first answer the density is unknown, so that range is short and goes alone (an answer
too large for the client is split: listener.rpc). `plan_more` bounds what all the ranges in
flight hold together (docs/LISTENER.md, "Memory").

Pure logic, no I/O. The invariant every caller relies on: the ranges handed out for a span
[first, last] are contiguous and inclusive and cover every block exactly once, whatever the
provider refuses along the way (a range's first and last blocks are where indexers lose or
double events).
"""

from __future__ import annotations

# Successes in a row after which the size may grow past the last refused size again: limits
# on the number of results depend on how dense the blocks are, so a learnt ceiling expires.
PROBE_AFTER = 16
# Blocks of the first range, while the density is unknown: a dense chain's 2,000 blocks are
# 760k logs, more than a node answers within a timeout; 100 are a small answer anywhere.
FIRST_SPAN = 100


class RangeSizer:
    """The current range size: starts at `initial`, doubles after success up to `maximum`.

    A refusal also sets a ceiling, so that growth does not run into the same refusal after
    every success; the ceiling lifts after PROBE_AFTER successes in a row. With
    `max_results`, `take` also keeps a range's expected logs (its blocks times the last
    answer's density) under it.
    """

    def __init__(self, *, initial: int, maximum: int, max_results: int | None = None) -> None:
        if initial < 1 or maximum < 1:
            raise ValueError(f"range sizes must be >= 1, got {initial} and {maximum}")
        self.maximum = maximum
        # Logs per range we aim to stay under: bounds the memory of dense stretches.
        self.max_results = max_results
        self.size = min(initial, maximum)
        self.ceiling: int | None = None
        self._streak = 0
        # Logs per block of the last answer; None before the first.
        self.density: float | None = None

    def succeeded(self, span: int, results: int = 0) -> None:
        """A range of `span` blocks gave `results` logs: grow, or shrink if they were too many.

        A short tail range (smaller than the current size) does not grow the size.
        """
        # An answer with fewer logs lowers the estimate by half at most: a quiet stretch
        # (or the blocks before a deployment) is no proof that the next blocks are quiet too.
        self.density = max(results / max(1, span), (self.density or 0.0) / 2)
        if self.max_results is not None and results > self.max_results:
            self.size = max(1, min(self.size, span * self.max_results // results))
            return
        if span < self.size or (self.max_results is not None and results * 2 > self.max_results):
            return
        self._streak += 1
        if self._streak >= PROBE_AFTER:
            self.ceiling = None
        limit = self.maximum if self.ceiling is None else min(self.maximum, self.ceiling)
        self.size = max(self.size, min(limit, self.size * 2))

    def refused(self, first: int, last: int, suggested: tuple[int, int] | None = None) -> int:
        """The range [first, last] was refused; shrink and return the new size (>= 1).

        A provider's suggestion is taken when it starts at `first` and is shorter than the
        refused range; otherwise the size halves.
        """
        span = last - first + 1
        if suggested is not None and suggested[0] == first and first <= suggested[1] < last:
            new = suggested[1] - first + 1
        else:
            new = max(1, span // 2)
        self.size = max(1, min(self.size, new))
        self.ceiling = self.size
        self._streak = 0
        return self.size

    def span(self) -> int:
        """Blocks of the next range: the size, fewer where the blocks are dense."""
        if self.max_results is not None and self.density is None:
            return min(self.size, FIRST_SPAN)
        if self.max_results is None or not self.density:
            return self.size
        if self.density * self.size <= self.max_results:
            return self.size
        return max(1, int(self.max_results / self.density))

    def expected(self, first: int, last: int) -> int | None:
        """The logs a range is expected to hold; None before the first answer."""
        if self.density is None:
            return None
        return round(self.density * (last - first + 1))

    def take(self, start: int, target: int) -> tuple[int, int] | None:
        """The next range from `start`, ending at `target` at the latest; None when done."""
        if start > target:
            return None
        return start, min(target, start + self.span() - 1)


def plan_more(held: list[int], expected: int | None, limit: int, concurrency: int) -> bool:
    """Whether one more range may be fetched beside those in flight.

    `held` are the logs of the ranges in flight (fetched, or else expected), `expected` the
    next range's (None: unknown). It starts only while fewer than `concurrency` are in
    flight and the total stays within `limit`; an unknown one only alone. With nothing in
    flight a range always starts, however large, so the backfill moves on.
    """
    if not held:
        return True
    if expected is None:
        return False
    return len(held) < concurrency and sum(held) + expected <= limit


class RangeCursor:
    """Walks [first, last] one accepted range at a time, splitting refused ranges.

    `current` is the range to fetch next; call `accept()` when it succeeded or
    `refuse(suggested)` when the provider refused it. A refused single block cannot be split
    and raises ValueError.
    """

    def __init__(self, first: int, last: int, sizer: RangeSizer) -> None:
        if first > last:
            raise ValueError(f"empty span {first}..{last}")
        self.last = last
        self.sizer = sizer
        self.next_block = first
        # The range handed out by `current`, fixed until accepted or refused: the sizer may be
        # shared with other cursors and change size in between.
        self._out: tuple[int, int] | None = None

    @property
    def done(self) -> bool:
        """Tell whether every block of the span has been accepted."""
        return self.next_block > self.last

    @property
    def current(self) -> tuple[int, int]:
        """The range to fetch now."""
        if self._out is None:
            taken = self.sizer.take(self.next_block, self.last)
            if taken is None:
                raise ValueError("the span is done")
            self._out = taken
        return self._out

    def accept(self, results: int = 0) -> tuple[int, int]:
        """The current range was fetched (with `results` logs); return it and move past it."""
        first, last = self.current
        self.sizer.succeeded(last - first + 1, results)
        self.next_block = last + 1
        self._out = None
        return first, last

    def refuse(self, suggested: tuple[int, int] | None = None) -> None:
        """The current range was refused; shrink so the next `current` is smaller."""
        first, last = self.current
        if first == last:
            raise ValueError(f"the provider refused the single block {first}")
        self.sizer.refused(first, last, suggested)
        self._out = None

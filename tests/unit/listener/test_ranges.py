"""The adaptive range planner: exact coverage of every block, growth and shrinking."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from listener.ranges import PROBE_AFTER, RangeCursor, RangeSizer

Refusal = Callable[[int, int], tuple[bool, tuple[int, int] | None]]


def walk(first: int, last: int, sizer: RangeSizer, refusal: Refusal) -> list[tuple[int, int]]:
    """Drive a cursor over [first, last], refusing ranges as `refusal` says."""
    cursor = RangeCursor(first, last, sizer)
    accepted: list[tuple[int, int]] = []
    steps = 0
    while not cursor.done:
        steps += 1
        assert steps < 10_000, "the cursor does not progress"
        lo, hi = cursor.current
        refused, suggested = refusal(lo, hi)
        if refused and lo < hi:
            cursor.refuse(suggested)
        else:
            accepted.append(cursor.accept())
    return accepted


def assert_exact_cover(ranges: list[tuple[int, int]], first: int, last: int) -> None:
    """Contiguous, inclusive, in order, each block once, nothing outside [first, last]."""
    assert ranges, "no range"
    assert ranges[0][0] == first
    assert ranges[-1][1] == last
    for lo, hi in ranges:
        assert lo <= hi
    for (_, hi), (lo, _) in itertools.pairwise(ranges):
        assert lo == hi + 1
    blocks = [b for lo, hi in ranges for b in range(lo, hi + 1)]
    assert blocks == list(range(first, last + 1))


def never(lo: int, hi: int) -> tuple[bool, tuple[int, int] | None]:
    return False, None


@pytest.mark.parametrize("first", [0, 1, 2, 7, 1_000_000])
def test_every_span_and_size_is_covered_exactly_once(first: int) -> None:
    for length in range(1, 40):
        for initial in range(1, 12):
            for maximum in (initial, initial + 1, 2 * initial, 64):
                sizer = RangeSizer(initial=initial, maximum=maximum)
                ranges = walk(first, first + length - 1, sizer, never)
                assert_exact_cover(ranges, first, first + length - 1)


def test_ranges_grow_by_doubling_up_to_the_maximum() -> None:
    sizer = RangeSizer(initial=3, maximum=20)
    ranges = walk(0, 99, sizer, never)
    assert [hi - lo + 1 for lo, hi in ranges] == [3, 6, 12, 20, 20, 20, 19]


def test_a_short_tail_range_does_not_grow_the_size() -> None:
    sizer = RangeSizer(initial=4, maximum=100)
    walk(0, 1, sizer, never)
    assert sizer.size == 4


def test_a_refused_range_halves_and_never_drops_below_one() -> None:
    sizer = RangeSizer(initial=8, maximum=8)
    assert sizer.refused(0, 7) == 4
    assert sizer.refused(0, 3) == 2
    assert sizer.refused(0, 1) == 1
    assert sizer.refused(0, 1) == 1


def test_the_providers_suggestion_is_taken_when_it_fits() -> None:
    sizer = RangeSizer(initial=1000, maximum=1000)
    assert sizer.refused(100, 1099, (100, 149)) == 50


@pytest.mark.parametrize("suggested", [(99, 140), (100, 2000), (100, 1099), (101, 150), (100, 99)])
def test_a_suggestion_that_does_not_fit_halves_instead(suggested: tuple[int, int]) -> None:
    sizer = RangeSizer(initial=1000, maximum=1000)
    assert sizer.refused(100, 1099, suggested) == 500


def test_a_refused_single_block_cannot_be_split() -> None:
    cursor = RangeCursor(5, 5, RangeSizer(initial=1, maximum=1))
    with pytest.raises(ValueError, match="single block 5"):
        cursor.refuse()


def test_invalid_sizes_and_empty_spans_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        RangeSizer(initial=0, maximum=5)
    with pytest.raises(ValueError, match="empty span"):
        RangeCursor(5, 4, RangeSizer(initial=1, maximum=1))


def test_a_provider_limit_is_learnt_and_every_block_still_covered() -> None:
    # A provider that refuses any range of more than 10 blocks, suggesting 10.
    def limit(lo: int, hi: int) -> tuple[bool, tuple[int, int] | None]:
        return hi - lo + 1 > 10, (lo, lo + 9)

    sizer = RangeSizer(initial=64, maximum=1000)
    ranges = walk(3, 500, sizer, limit)
    assert_exact_cover(ranges, 3, 500)
    assert all(hi - lo + 1 <= 10 for lo, hi in ranges)


def test_random_refusals_and_suggestions_always_cover_exactly_once() -> None:
    rng = random.Random(20261129)
    for _ in range(3_000):
        first = rng.randrange(0, 50)
        last = first + rng.randrange(0, 120)
        sizer = RangeSizer(initial=rng.randrange(1, 40), maximum=rng.randrange(1, 200))

        def chaos(lo: int, hi: int) -> tuple[bool, tuple[int, int] | None]:
            refused = rng.random() < 0.4
            kind = rng.randrange(4)
            if kind == 0:
                return refused, None
            if kind == 1:
                return refused, (lo, lo + rng.randrange(0, hi - lo + 1))
            # Nonsense suggestions must not break coverage either.
            return refused, (rng.randrange(0, 200), rng.randrange(0, 200))

        ranges = walk(first, last, sizer, chaos)
        assert_exact_cover(ranges, first, last)
        assert 1 <= sizer.size <= max(sizer.maximum, 1)


def test_a_shared_sizer_changing_between_current_and_accept_keeps_coverage() -> None:
    sizer = RangeSizer(initial=4, maximum=64)
    a, b = RangeCursor(0, 99, sizer), RangeCursor(100, 199, sizer)
    accepted: list[tuple[int, int]] = []
    while not (a.done and b.done):
        for cursor, other in ((a, b), (b, a)):
            if cursor.done:
                continue
            lo, hi = cursor.current
            # The other cursor's outcome changes the shared size in between.
            if not other.done:
                other_lo, other_hi = other.current
                if other_hi > other_lo and (other_lo + lo) % 3 == 0:
                    other.refuse()
                else:
                    accepted.append(other.accept())
            if not cursor.done:
                assert cursor.current == (lo, hi)
                accepted.append(cursor.accept())
    assert_exact_cover(sorted(accepted), 0, 199)


def test_a_refusal_caps_growth_until_enough_successes_in_a_row() -> None:
    sizer = RangeSizer(initial=64, maximum=1024)
    sizer.refused(0, 63)
    assert (sizer.size, sizer.ceiling) == (32, 32)
    for _ in range(PROBE_AFTER - 1):
        sizer.succeeded(sizer.size)
        assert sizer.size == 32
    sizer.succeeded(32)
    assert sizer.ceiling is None
    assert sizer.size == 64


def test_dense_ranges_shrink_to_stay_under_the_result_target() -> None:
    sizer = RangeSizer(initial=1000, maximum=1000, max_results=100)
    sizer.succeeded(1000, results=400)  # four times too many: a quarter of the size
    assert sizer.size == 250
    sizer.succeeded(250, results=60)  # more than half the target: keep the size
    assert sizer.size == 250
    sizer.succeeded(250, results=10)  # sparse again: grow
    assert sizer.size == 500
    sizer.succeeded(500, results=100_000)
    assert sizer.size == 1


def test_a_cursor_reports_its_results_to_the_sizer() -> None:
    sizer = RangeSizer(initial=100, maximum=100, max_results=10)
    cursor = RangeCursor(0, 999, sizer)
    assert cursor.accept(results=50) == (0, 99)
    assert cursor.current == (100, 119)

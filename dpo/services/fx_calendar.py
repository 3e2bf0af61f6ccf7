"""Working days of the ECB's reference rates (TARGET2 calendar) and the staleness rule."""

from __future__ import annotations

from datetime import date, timedelta

# A rate older than this many working days is flagged stale in `fxRates`.
STALE_AFTER_WORKING_DAYS = 4


def easter(year: int) -> date:
    """Easter Sunday (Gregorian; the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 19 * m) // 433
    month = (h + m - 7 * n + 90) // 25
    day = (h + m - 7 * n + 33 * month + 19) % 32
    return date(year, month, day)


def is_working_day(day: date) -> bool:
    """Whether the ECB publishes on this day: a weekday that is not a TARGET holiday."""
    if day.weekday() >= 5:
        return False
    if (day.month, day.day) in ((1, 1), (5, 1), (12, 25), (12, 26)):
        return False
    sunday = easter(day.year)
    return day not in (sunday - timedelta(days=2), sunday + timedelta(days=1))


def working_days_between(earlier: date, later: date) -> int:
    """Working days after `earlier` up to and including `later` (0 when not later)."""
    if later <= earlier:
        return 0
    span = (later - earlier).days
    if span > 3660:  # far apart: certainly stale, and no need to walk ten years of days
        return span
    return sum(1 for n in range(1, span + 1) if is_working_day(earlier + timedelta(days=n)))


def is_stale(as_of: date, today: date) -> bool:
    """A fixing is stale once more than STALE_AFTER_WORKING_DAYS working days followed it."""
    return working_days_between(as_of, today) > STALE_AFTER_WORKING_DAYS

"""Railway's cron rules (docs.railway.com/cron-jobs), to check schedules before a deploy does.

A crontab expression has five fields, runs in UTC, and "every pair of consecutive scheduled
runs must be at least 5 minutes apart, ... including the gap from the last run of the day to
the first run of the next day, even if your schedule doesn't run on consecutive days": the
check is on the times of day the minute and hour fields give, taken as a cycle.
"""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

MIN_GAP_MINUTES = 5
DAY = 24 * 60


def _values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step {step} in {field!r}")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-")
            start, end = int(first), int(last)
        else:
            start = int(base)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def times_of_day(expression: str) -> list[int]:
    """The minutes after midnight (UTC) at which the expression runs, sorted."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} has {len(fields)} fields, not 5")
    minutes, hours = _values(fields[0], 0, 59), _values(fields[1], 0, 23)
    return sorted(hour * 60 + minute for hour in hours for minute in minutes)


def railway_problems(expression: str) -> list[str]:
    """Why Railway would refuse the expression; empty when it is accepted."""
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
        runs = times_of_day(expression)
    except ValueError as error:
        return [f"{expression!r} is not a valid crontab expression: {error}"]
    problems = []
    for before, after in zip(runs, [*runs[1:], runs[0] + DAY], strict=True):
        if after - before < MIN_GAP_MINUTES:
            problems.append(
                f"{expression!r}: runs at {before // 60:02d}:{before % 60:02d} and "
                f"{after % DAY // 60:02d}:{after % 60:02d} UTC are "
                f"{after - before} minutes apart (Railway needs 5)"
            )
    return problems


def interval_minutes(expression: str) -> int | None:
    """The one interval between consecutive runs, if they are evenly spaced over the day."""
    runs = times_of_day(expression)
    gaps = {after - before for before, after in zip(runs, [*runs[1:], runs[0] + DAY], strict=True)}
    return gaps.pop() if len(gaps) == 1 else None

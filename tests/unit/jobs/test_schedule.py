"""When each schedule entry first runs, given its last recorded start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.registry import JOBS
from jobs.schedule import DEMO, HOUR, RUNBOOK, Entry, first_due

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOURLY = Entry("reconcile_positions", HOUR)


def test_an_entry_that_never_ran_runs_at_once() -> None:
    assert first_due(HOURLY, None, NOW) == NOW


def test_a_run_missed_while_down_runs_once_now_however_many_were_missed() -> None:
    # Five intervals missed: one run now, not five (APScheduler's coalesce does the rest).
    assert first_due(HOURLY, NOW - timedelta(hours=5, minutes=1), NOW) == NOW
    assert first_due(HOURLY, NOW - timedelta(hours=1), NOW) == NOW


def test_an_entry_not_yet_due_keeps_its_time() -> None:
    last = NOW - timedelta(minutes=10)
    assert first_due(HOURLY, last, NOW) == last + timedelta(hours=1)


def test_the_runbook_schedule_and_the_demo_one_cover_every_job() -> None:
    assert [(e.job, e.seconds, e.full) for e in RUNBOOK] == [
        ("sync_fx_rates", 900, False),
        ("sync_csd", 1800, False),
        ("reconcile_positions", 3600, False),
        ("reconcile_positions", 7 * 24 * 3600, True),
    ]
    for schedule in (RUNBOOK, DEMO):
        assert {e.job for e in schedule} == set(JOBS)
        assert len({e.key for e in schedule}) == len(schedule)
    # `make run` shows every job within a minute.
    assert max(e.seconds for e in DEMO if not e.full) < 60

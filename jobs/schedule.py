"""The runbook's schedule, and when each entry is next due given its last recorded run.

Pure: no database, no clock of its own. The scheduler (jobs/scheduler.py) reads each entry's
last start from `job_runs` and asks `first_due` when to run it first: a run missed while no
scheduler was up is due at once, and only once, however many intervals went by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE, HOUR, WEEK = 60, 3600, 7 * 24 * 3600


@dataclass(frozen=True)
class Entry:
    """A job on an interval; `full` runs are scheduled (and remembered) apart."""

    job: str
    seconds: int
    full: bool = False

    @property
    def key(self) -> str:
        """The scheduler's id for the entry."""
        return f"{self.job}:full" if self.full else self.job


# The runbook: FX every 15 minutes, CSDs every 30, reconciliation hourly and in full weekly.
RUNBOOK = (
    Entry("sync_fx_rates", 15 * MINUTE),
    Entry("sync_csd", 30 * MINUTE),
    Entry("reconcile_positions", HOUR),
    Entry("reconcile_positions", WEEK, full=True),
)
# `dpo up --demo`: every job within the first minute, then often enough to watch.
DEMO = (
    Entry("sync_fx_rates", 20),
    Entry("sync_csd", 30),
    Entry("reconcile_positions", 40),
    Entry("reconcile_positions", 5 * MINUTE, full=True),
)
SCHEDULES = {"runbook": RUNBOOK, "demo": DEMO}


def first_due(entry: Entry, last_started: datetime | None, now: datetime) -> datetime:
    """When to run an entry first: now if it never ran or a run is overdue, else on time."""
    if last_started is None:
        return now
    due = last_started + timedelta(seconds=entry.seconds)
    return now if due <= now else due

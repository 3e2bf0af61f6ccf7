"""`dpo jobs schedule`: one active scheduler across replicas, APScheduler driving the entries.

Leadership is a session-level advisory lock (the listener's pattern): a standby retries until
the active scheduler's connection goes away. When it gets the lock, each entry's first run
comes from `job_runs` (jobs/schedule.py: overdue runs once, at once), then APScheduler's
interval trigger takes over with `coalesce` (a backlog runs once) and one instance per entry.
Every run still takes its job's own lock, so a run started by hand or by `runJob` meanwhile
makes the scheduled one skip. Losing the leader lock stops the process (exit 1, restarted by
the platform) rather than risk two schedulers.

SIGTERM/SIGINT: no new runs start; running ones get JOBS_STOP_SECONDS to finish, then are
cancelled, which records them as stopped (dpo.runs.runner) and releases their locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Boolean, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import JobRun
from dpo.db.models.enums import RunStatus
from dpo.runs.lock import AdvisoryLock, stand_by
from dpo.runs.runner import INTERRUPTED, STOPPED, JobSpec, RunSkippedError, start_run
from dpo.runtime import Runtime
from jobs.registry import JOBS
from jobs.schedule import SCHEDULES, Entry, first_due

logger = logging.getLogger(__name__)

LEADER_LOCK = "scheduler"
STANDBY_RETRY = 2.0
WATCH_INTERVAL = 5.0
RETRY_AFTER_SKIP = 60.0

# Extra work that lives in the scheduler process (the outbox worker): started with
# leadership, cancelled at shutdown.
Companion = Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]]


async def last_started(sessions: async_sessionmaker[AsyncSession], entry: Entry) -> datetime | None:
    """When the entry's job (full or not) last started and ended, by a scheduler or by hand.

    Runs that did not end on their own (still `running`, or interrupted or stopped by a
    process going away) do not count: a new leader runs those again at once. A run that
    failed by itself counts, so a failing job is not retried on every restart.
    """
    full = func.coalesce(cast(JobRun.counts["full"].astext, Boolean), False)
    ended = and_(
        JobRun.status != RunStatus.RUNNING.value,
        or_(
            JobRun.error.is_(None),
            and_(
                JobRun.error.not_like(f"{INTERRUPTED[:11]}%"),
                JobRun.error.not_like(f"{STOPPED[:7]}%"),
            ),
        ),
    )
    async with sessions() as session:
        return await session.scalar(
            select(func.max(JobRun.started_at)).where(
                JobRun.job == entry.job, full == entry.full, ended
            )
        )


class Scheduler:
    """Runs the schedule while it holds the leader lock."""

    def __init__(
        self,
        runtime: Runtime,
        database_url: str,
        *,
        entries: Sequence[Entry] | None = None,
        companions: Sequence[Companion] = (),
        jobs: Mapping[str, JobSpec] = JOBS,
    ) -> None:
        self.runtime = runtime
        self.database_url = database_url
        settings = runtime.settings
        self.entries = list(entries if entries is not None else SCHEDULES[settings.jobs_schedule])
        self.stop_seconds = settings.jobs_stop_seconds
        self.companions = companions
        self.jobs = jobs
        self.stopping = asyncio.Event()
        self.running: set[asyncio.Task[None]] = set()
        self.leader = AdvisoryLock(database_url, LEADER_LOCK)
        self._apscheduler: AsyncIOScheduler | None = None

    async def run_entry(self, entry: Entry) -> None:
        """One scheduled run; never raises (a failure is in job_runs)."""
        if self.stopping.is_set():
            return
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        try:
            started = await start_run(
                self.jobs[entry.job],
                settings=self.runtime.settings,
                sessions=self.runtime.sessions,
                redis=self.runtime.redis,
                database_url=self.database_url,
                full=entry.full,
            )
            await started.execute()
        except RunSkippedError as skipped:
            # Another run holds the job (by hand, runJob, or the full entry of the same job):
            # try once more a little later instead of waiting a whole interval.
            retry = datetime.now(UTC) + timedelta(seconds=min(RETRY_AFTER_SKIP, entry.seconds / 2))
            logger.info(
                "scheduled %s: %s; retrying at %s",
                entry.key,
                skipped,
                retry.isoformat(timespec="seconds"),
            )
            if self._apscheduler is not None and not self.stopping.is_set():
                self._apscheduler.add_job(
                    self.run_entry,
                    DateTrigger(run_date=retry),
                    args=[entry],
                    id=f"{entry.key}:retry",
                    replace_existing=True,
                    misfire_grace_time=None,
                )
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
            # Stopped by our own shutdown after the grace period; the run is recorded stopped.
        except Exception:
            logger.exception("scheduled %s could not run", entry.key)
        finally:
            self.running.discard(task)

    async def _wait_for_leadership(self) -> bool:
        if not await stand_by(
            self.leader,
            self.stopping,
            name="scheduler",
            retry=STANDBY_RETRY,
            others="another scheduler is active",
        ):
            return False
        logger.info("scheduler lock acquired; this scheduler is active")
        return True

    async def _schedule(self, scheduler: AsyncIOScheduler) -> None:
        now = datetime.now(UTC)
        for entry in self.entries:
            spec = self.jobs[entry.job]
            if spec.run is None:
                logger.info("%s is not available yet in this version; not scheduled", entry.job)
                continue
            due = first_due(entry, await last_started(self.runtime.sessions, entry), now)
            scheduler.add_job(
                self.run_entry,
                IntervalTrigger(seconds=entry.seconds),
                args=[entry],
                id=entry.key,
                name=entry.key,
                next_run_time=due,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
            logger.info(
                "%s every %d s, first at %s",
                entry.key,
                entry.seconds,
                due.isoformat(timespec="seconds"),
            )

    async def run(self) -> int:
        """Until stopped (0) or the leader lock is lost (1)."""
        if not await self._wait_for_leadership():
            return 0
        scheduler = self._apscheduler = AsyncIOScheduler(timezone=UTC)
        helpers: list[asyncio.Task[None]] = []
        lost = False
        try:
            await self._schedule(scheduler)
            scheduler.start()
            helpers = [
                asyncio.create_task(companion(self.runtime, self.stopping))
                for companion in self.companions
            ]
            while not self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), WATCH_INTERVAL)
                if not self.stopping.is_set() and not await self.leader.alive():
                    logger.error("the scheduler lock was lost; stopping")
                    lost = True
                    self.stopping.set()
        finally:
            self.stopping.set()
            if scheduler.running:
                scheduler.pause()  # no new runs; shutdown would cancel the running ones
            await self._drain(helpers)
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self.leader.release()
        return 1 if lost else 0

    async def _drain(self, helpers: list[asyncio.Task[None]]) -> None:
        running = set(self.running)
        if running:
            logger.info(
                "waiting up to %.0f s for %d running job(s) to finish",
                self.stop_seconds,
                len(running),
            )
            _, pending = await asyncio.wait(running, timeout=self.stop_seconds)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for helper in helpers:
            helper.cancel()
        for helper in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await helper

    def install_signals(self) -> None:
        """SIGTERM and SIGINT stop the scheduler gracefully."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)

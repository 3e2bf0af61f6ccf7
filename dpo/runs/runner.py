"""Start a job under its advisory lock, record the run in `job_runs`, finish it whatever happens.

`start_run` takes the lock and commits a `running` row before any work, so the caller can hand
the row back at once (the `runJob` mutation does, then executes in the background). A run that
finds the lock taken raises RunSkippedError naming the run in progress; no row is written for a
skip, so `job_runs` stays the history of work actually done. Under the lock no other run of the
job can be alive, so any row still `running` belongs to a process that died (kill -9, a lost
machine): it is marked failed as interrupted. Jobs commit their own units of work; a unit is
all or nothing, so a run killed half-way leaves only whole units behind and the next run
completes the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.channels import channels_of
from dpo.db.base import utcnow
from dpo.db.models import JobRun
from dpo.db.models.enums import RunStatus
from dpo.db.session import unit_of_work
from dpo.invalidation import announce_write
from dpo.notifications.outbox import notify_ops
from dpo.runs import metrics
from dpo.runs.lock import AdvisoryLock
from dpo.settings import Settings

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the process running it stopped before it finished"
STOPPED = "stopped: the process was asked to stop during the run"
MAX_ERROR = 2000


@dataclass
class JobContext:
    """What a job receives: resources, its run's id and options, and counts to fill in."""

    name: str
    run_id: int
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: Any
    full: bool = False
    counts: dict[str, Any] = field(default_factory=dict)

    async def committed(self) -> None:
        """Tell the response caches that a unit of work of this run committed."""
        channels = channels_of(self.redis, self.settings.redis_channel_prefix)
        await announce_write(self.redis, channel=channels.invalidate, origin=f"job:{self.name}")


JobFunction = Callable[[JobContext], Awaitable[None]]
# Called in the transaction that records a failed run (the ops notification goes there).
FailureHook = Callable[[AsyncSession, JobRun], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    """A job the platform can run; `run` is None while the job is not built yet."""

    name: str
    description: str
    run: JobFunction | None
    # Whether `full` means something to this job (reconcile_positions --full).
    has_full: bool = False


class RunSkippedError(Exception):
    """Another run of the job holds its lock; `running_id` is its row, if it has one yet."""

    def __init__(self, name: str, running_id: int | None) -> None:
        where = f" (run {running_id})" if running_id is not None else ""
        super().__init__(f"{name} is already running{where}; this run was skipped")
        self.name = name
        self.running_id = running_id


class JobNotAvailableError(Exception):
    """The job exists in the schedule but is not built in this version."""


def error_text(error: BaseException) -> str:
    """A run's error as stored: the type and message, bounded (messages carry no secrets)."""
    text = f"{type(error).__name__}: {error}".strip()
    return text[:MAX_ERROR]


@dataclass
class StartedRun:
    """A run whose lock is held and whose `running` row is committed."""

    spec: JobSpec
    context: JobContext
    lock: AdvisoryLock
    row: JobRun
    on_failure: FailureHook | None = None
    # When the lock was taken (monotonic), for the run's duration metric.
    began: float = field(default_factory=time.monotonic)

    async def execute(self) -> JobRun:
        """Run the job, then record how it ended and release the lock (always)."""
        assert self.spec.run is not None
        status, error = RunStatus.FAILED, STOPPED
        try:
            await self.spec.run(self.context)
            status, error = RunStatus.SUCCEEDED, ""
        except asyncio.CancelledError:
            logger.warning("job %s run %d stopped before it finished", self.spec.name, self.row.id)
            raise
        except Exception as failure:
            error = error_text(failure)
            logger.error("job %s run %d failed: %s", self.spec.name, self.row.id, error)
        finally:
            try:
                await asyncio.shield(self._finish(status, error or None))
            finally:
                await self.lock.release()
                outcome = "stopped" if error == STOPPED else status.value
                metrics.observe(self.spec.name, outcome, time.monotonic() - self.began, time.time())
        return self.row

    async def _finish(self, status: RunStatus, error: str | None) -> None:
        async with unit_of_work(self.context.sessions) as session:
            row = await session.get(JobRun, self.row.id, with_for_update=True)
            assert row is not None
            row.status, row.error = status.value, error
            row.finished_at = utcnow()
            row.counts = dict(self.context.counts)
            if status is RunStatus.FAILED:
                await _notify_failed(session, row)
                if self.on_failure is not None:
                    await self.on_failure(session, row)
        self.row = row
        await self.context.committed()
        logger.info("job %s run %d %s %s", self.spec.name, row.id, row.status, row.counts)


async def _notify_failed(session: AsyncSession, row: JobRun) -> None:
    """Tell ops, in the transaction that records the failure (once per run)."""
    await notify_ops(
        session,
        key=f"job_failed:{row.id}",
        event="job_failed",
        fields={"job": row.job, "run_id": row.id, "error": row.error or ""},
    )


async def running_run(sessions: async_sessionmaker[AsyncSession], name: str) -> int | None:
    """The newest `running` row of a job, if any."""
    async with sessions() as session:
        return await session.scalar(
            select(JobRun.id)
            .where(JobRun.job == name, JobRun.status == RunStatus.RUNNING.value)
            .order_by(JobRun.id.desc())
            .limit(1)
        )


async def start_run(
    spec: JobSpec,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Any,
    database_url: str,
    full: bool = False,
    on_failure: FailureHook | None = None,
) -> StartedRun:
    """Take the job's lock and commit its `running` row; RunSkippedError if it is taken."""
    if spec.run is None:
        raise JobNotAvailableError(f"the {spec.name} job is not available yet in this version")
    lock = AdvisoryLock(database_url, spec.name)
    if not await lock.acquire():
        metrics.skipped(spec.name)
        raise RunSkippedError(spec.name, await running_run(sessions, spec.name))
    try:
        counts: dict[str, Any] = {"full": True} if full else {}
        async with unit_of_work(sessions) as session:
            stale = (
                await session.scalars(
                    update(JobRun)
                    .where(JobRun.job == spec.name, JobRun.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.FAILED.value, finished_at=utcnow(), error=INTERRUPTED)
                    .returning(JobRun)
                )
            ).all()
            row = JobRun(
                job=spec.name, status=RunStatus.RUNNING.value, counts=counts, started_at=utcnow()
            )
            session.add(row)
            await session.flush()
            for stale_row in stale:
                await _notify_failed(session, stale_row)
        for stale_row in stale:
            logger.warning(
                "job %s run %d was interrupted (its process died); marked failed",
                spec.name,
                stale_row.id,
            )
        context = JobContext(
            name=spec.name,
            run_id=row.id,
            settings=settings,
            sessions=sessions,
            redis=redis,
            full=full,
            counts=dict(counts),
        )
        logger.info("job %s run %d started%s", spec.name, row.id, " (full)" if full else "")
        return StartedRun(spec=spec, context=context, lock=lock, row=row, on_failure=on_failure)
    except BaseException:
        await lock.release()
        raise

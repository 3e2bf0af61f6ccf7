"""The scheduler on a real PostgreSQL: missed runs once, one leader, a clean stop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from dpo.db.base import utcnow
from dpo.db.models import JobRun
from dpo.db.session import unit_of_work
from dpo.runs.runner import JobContext, JobSpec
from dpo.runtime import Runtime
from dpo.settings import Settings
from jobs.schedule import Entry
from jobs.scheduler import Scheduler
from tests.integration.api.committed import committed_api


@pytest.fixture
async def runtime(pg_server_url: str, redis_url: str) -> AsyncIterator[tuple[Runtime, str]]:
    async with committed_api(pg_server_url) as api:
        live = Runtime(
            settings=Settings(JOBS_STOP_SECONDS=0.5),
            engine=api.runtime.engine,
            sessions=api.runtime.sessions,
            redis=aioredis.from_url(redis_url),
        )
        yield live, api.url
        await live.redis.aclose()


class Counting:
    """A job that counts its runs and can be held inside a run."""

    def __init__(self) -> None:
        self.name = f"test_job_{uuid.uuid4().hex[:8]}"
        self.runs = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, context: JobContext) -> None:
        self.runs += 1
        self.entered.set()
        await self.release.wait()

    @property
    def spec(self) -> JobSpec:
        return JobSpec(name=self.name, description="test", run=self)


async def _statuses(runtime: Runtime, name: str) -> list[str]:
    async with runtime.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(JobRun.status).where(JobRun.job == name).order_by(JobRun.id)
                )
            ).all()
        )


async def _until(predicate: object, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_run_missed_while_down_runs_once_and_one_on_time_waits(
    runtime: tuple[Runtime, str],
) -> None:
    live, url = runtime
    missed, recent = Counting(), Counting()
    async with unit_of_work(live.sessions) as session:
        session.add_all(
            [
                JobRun(
                    job=missed.name,
                    status="succeeded",
                    started_at=utcnow() - timedelta(hours=5),
                    finished_at=utcnow() - timedelta(hours=5),
                ),
                JobRun(
                    job=recent.name,
                    status="succeeded",
                    started_at=utcnow() - timedelta(minutes=10),
                    finished_at=utcnow(),
                ),
            ]
        )
    scheduler = Scheduler(
        live,
        url,
        entries=[Entry(missed.name, 3600), Entry(recent.name, 3600)],
        jobs={missed.name: missed.spec, recent.name: recent.spec},
    )
    task = asyncio.create_task(scheduler.run())
    await _until(lambda: missed.runs >= 1)
    await asyncio.sleep(1.0)  # time for any further (wrong) catch-up runs
    scheduler.stopping.set()
    assert await task == 0
    assert (missed.runs, recent.runs) == (1, 0)
    assert await _statuses(live, missed.name) == ["succeeded", "succeeded"]


async def test_one_active_scheduler_the_other_stands_by_and_takes_over(
    runtime: tuple[Runtime, str],
) -> None:
    live, url = runtime
    job = Counting()
    entries, jobs = [Entry(job.name, 3600)], {job.name: job.spec}
    first = Scheduler(live, url, entries=entries, jobs=jobs)
    second = Scheduler(live, url, entries=entries, jobs=jobs)
    one = asyncio.create_task(first.run())
    await _until(lambda: job.runs == 1)
    two = asyncio.create_task(second.run())
    await asyncio.sleep(1.0)
    assert not second.leader.held
    assert job.runs == 1
    first.stopping.set()
    assert await one == 0
    await _until(lambda: second.leader.held)
    await asyncio.sleep(0.5)
    assert job.runs == 1  # the new leader knows the last run from job_runs: not due yet
    second.stopping.set()
    assert await two == 0


@pytest.mark.parametrize(("finishes", "status"), [(True, "succeeded"), (False, "failed")])
async def test_sigterm_lets_a_run_finish_within_the_bound_or_stops_it(
    runtime: tuple[Runtime, str], finishes: bool, status: str
) -> None:
    live, url = runtime
    job = Counting()
    job.release.clear()
    scheduler = Scheduler(live, url, entries=[Entry(job.name, 3600)], jobs={job.name: job.spec})
    task = asyncio.create_task(scheduler.run())
    await job.entered.wait()
    scheduler.stopping.set()  # what SIGTERM does
    if finishes:
        await asyncio.sleep(0.1)
        job.release.set()
    assert await task == 0
    assert await _statuses(live, job.name) == [status]
    async with live.sessions() as session:
        error = await session.scalar(select(JobRun.error).where(JobRun.job == job.name))
    assert (error or "").startswith("stopped") is not finishes
    assert not scheduler.leader.held

"""The job runner on a real PostgreSQL: one run at a time, every run recorded, nothing stuck."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dpo.db.models import JobRun, Notification
from dpo.db.session import session_factory, unit_of_work
from dpo.runs.lock import AdvisoryLock
from dpo.runs.runner import (
    INTERRUPTED,
    JobContext,
    JobNotAvailableError,
    JobSpec,
    RunSkippedError,
    start_run,
)
from dpo.settings import Settings


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


def _name() -> str:
    return f"test_job_{uuid.uuid4().hex[:8]}"


async def _rows(sessions: async_sessionmaker[AsyncSession], name: str) -> list[JobRun]:
    async with sessions() as session:
        return list(
            (
                await session.scalars(select(JobRun).where(JobRun.job == name).order_by(JobRun.id))
            ).all()
        )


async def _notified(
    sessions: async_sessionmaker[AsyncSession], run_id: int
) -> dict[str, object] | None:
    """The fields of the ops notification of a failed run, if one was written."""
    async with sessions() as session:
        return await session.scalar(
            select(Notification.fields).where(Notification.key == f"job_failed:{run_id}")
        )


async def test_two_concurrent_runs_one_runs_one_skips(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, migrated_url: str
) -> None:
    name, entered, release = _name(), asyncio.Event(), asyncio.Event()
    calls = 0

    async def work(context: JobContext) -> None:
        nonlocal calls
        calls += 1
        entered.set()
        await release.wait()
        context.counts["done"] = 1

    spec = JobSpec(name=name, description="test", run=work)
    kwargs = {
        "settings": Settings(),
        "sessions": sessions,
        "redis": redis,
        "database_url": migrated_url,
    }
    first = await start_run(spec, **kwargs)  # type: ignore[arg-type]
    task = asyncio.create_task(first.execute())
    await entered.wait()
    with pytest.raises(RunSkippedError) as skipped:
        await start_run(spec, **kwargs)  # type: ignore[arg-type]
    assert skipped.value.running_id == first.row.id
    assert "already running" in str(skipped.value)
    release.set()
    done = await task
    assert (done.status, done.counts, calls) == ("succeeded", {"done": 1}, 1)
    rows = await _rows(sessions, name)
    assert [(r.status, r.finished_at is not None) for r in rows] == [("succeeded", True)]
    # The lock was released: the next run runs.
    again = await (await start_run(spec, **kwargs)).execute()  # type: ignore[arg-type]
    assert again.status == "succeeded"
    assert calls == 2


async def test_a_failure_is_recorded_with_its_counts_and_the_lock_released(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, migrated_url: str
) -> None:
    name = _name()

    async def work(context: JobContext) -> None:
        context.counts["units"] = 2
        raise RuntimeError("depository said no")

    hooked: list[int] = []

    async def on_failure(session: AsyncSession, row: JobRun) -> None:
        hooked.append(row.id)

    spec = JobSpec(name=name, description="test", run=work)
    started = await start_run(
        spec,
        settings=Settings(),
        sessions=sessions,
        redis=redis,
        database_url=migrated_url,
        on_failure=on_failure,
    )
    row = await started.execute()
    assert (row.status, row.counts, row.error) == (
        "failed",
        {"units": 2},
        "RuntimeError: depository said no",
    )
    assert hooked == [row.id]
    assert await _notified(sessions, row.id) == {
        "job": name,
        "run_id": row.id,
        "error": "RuntimeError: depository said no",
    }
    lock = AdvisoryLock(migrated_url, name)
    assert await lock.acquire()
    await lock.release()


async def test_a_dead_runs_row_is_marked_interrupted_by_the_next_run(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, migrated_url: str
) -> None:
    name = _name()
    async with unit_of_work(sessions) as session:
        session.add(JobRun(job=name, status="running"))

    async def work(context: JobContext) -> None:
        return None

    spec = JobSpec(name=name, description="test", run=work)
    row = await (
        await start_run(
            spec, settings=Settings(), sessions=sessions, redis=redis, database_url=migrated_url
        )
    ).execute()
    rows = await _rows(sessions, name)
    assert [(r.status, r.error) for r in rows] == [("failed", INTERRUPTED), ("succeeded", None)]
    assert rows[1].id == row.id
    assert (await _notified(sessions, rows[0].id) or {}).get("error") == INTERRUPTED
    assert await _notified(sessions, rows[1].id) is None


async def test_cancelling_a_run_records_it_stopped_and_frees_the_lock(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, migrated_url: str
) -> None:
    name, entered = _name(), asyncio.Event()

    async def work(context: JobContext) -> None:
        entered.set()
        await asyncio.sleep(60)

    spec = JobSpec(name=name, description="test", run=work)
    started = await start_run(
        spec, settings=Settings(), sessions=sessions, redis=redis, database_url=migrated_url
    )
    task = asyncio.create_task(started.execute())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = await _rows(sessions, name)
    assert [r.status for r in rows] == ["failed"]
    assert (rows[0].error or "").startswith("stopped")
    assert not started.lock.held


async def test_an_unbuilt_job_does_not_start(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, migrated_url: str
) -> None:
    spec = JobSpec(name=_name(), description="test", run=None)
    with pytest.raises(JobNotAvailableError):
        await start_run(
            spec, settings=Settings(), sessions=sessions, redis=redis, database_url=migrated_url
        )
    assert await _rows(sessions, spec.name) == []

"""`dpo jobs run` as cron runs it: one run at a time, and kill -9 leaves nothing half-written."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from dpo.db.urls import libpq_url
from tests.e2e.conftest import ROOT, base_env, run_dpo
from tests.integration.api.committed import committed_api
from tests.support.book import PLANT, expected_breaks
from tests.support.processes import Logged, python_app

HOLDERS = 5000
# The sync jobs run on the schedule too: their providers refuse at once, without retries.
UNREACHABLE = {
    "ECB_FX_URL": "http://127.0.0.1:9/eurofxref-daily.xml",
    "EUROCLEAR_API_BASE": "http://127.0.0.1:9",
    "CLEARSTREAM_PMI_BASE": "http://127.0.0.1:9",
    "PROVIDER_RETRY_ATTEMPTS": "1",
}


@pytest.fixture
async def book_url(pg_server_url: str) -> AsyncIterator[str]:
    """A database of its own holding the synthetic book."""
    async with committed_api(pg_server_url) as api:
        connection = await asyncpg.connect(libpq_url(api.url))
        try:
            for statement in PLANT:
                await connection.execute(statement.replace(":n", str(HOLDERS)))
        finally:
            await connection.close()
        yield api.url


async def _wait_blocked(url: str) -> None:
    """Until a job's transaction waits on the break_revision row we hold."""
    # A connection of its own: statistics views are a snapshot per transaction.
    connection = await asyncpg.connect(libpq_url(url))
    try:
        await _poll_blocked(connection)
    finally:
        await connection.close()


async def _poll_blocked(connection: asyncpg.Connection) -> None:
    for _ in range(600):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() "
            "AND query LIKE '%break_revision%'"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the job never reached the break revision")


def _start(url: str, redis_url: str, *args: str) -> Logged:
    return python_app(
        "jobs",
        "run",
        "reconcile_positions",
        *args,
        env=base_env(DATABASE_URL=url, REDIS_URL=redis_url),
    )


async def _state(connection: asyncpg.Connection) -> tuple[dict[str, int], list[str], list[str]]:
    kinds = {
        r["kind"]: r["n"]
        for r in await connection.fetch(
            "SELECT kind, count(*) AS n FROM reconciliation_breaks WHERE status = 'open' "
            "GROUP BY kind"
        )
    }
    jobs = [
        r["status"]
        for r in await connection.fetch(
            "SELECT status FROM job_runs WHERE job = 'reconcile_positions' ORDER BY id"
        )
    ]
    runs = [
        r["status"]
        for r in await connection.fetch("SELECT status FROM reconciliation_runs ORDER BY id")
    ]
    return kinds, jobs, runs


async def test_overlapping_runs_skip_and_kill_9_leaves_nothing_half_written(
    book_url: str, redis_url: str
) -> None:
    blocker = await asyncpg.connect(libpq_url(book_url))
    try:
        # Hold the counter row: the job's transaction stops after its comparison, mid-pass.
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("UPDATE break_revision SET last_value = last_value")
        first = _start(book_url, redis_url)
        await _wait_blocked(book_url)
        second = await asyncio.to_thread(
            run_dpo,
            "jobs",
            "run",
            "reconcile_positions",
            env=base_env(DATABASE_URL=book_url, REDIS_URL=redis_url),
        )
        assert second.returncode == 0, second.stderr
        assert (
            "reconcile_positions is already running (run 1); this run was skipped" in second.stdout
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        await holding.rollback()
        kinds, jobs, runs = await _state(blocker)
        assert (kinds, jobs, runs) == ({}, ["running"], ["running"])  # nothing half-written
        rerun = await asyncio.to_thread(
            run_dpo,
            "jobs",
            "run",
            "reconcile_positions",
            env=base_env(DATABASE_URL=book_url, REDIS_URL=redis_url),
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "run 2 succeeded" in rerun.stdout
        kinds, jobs, runs = await _state(blocker)
        assert kinds == expected_breaks(HOLDERS)
        assert (jobs, runs) == (["failed", "succeeded"], ["failed", "succeeded"])
        error = await blocker.fetchval("SELECT error FROM job_runs WHERE id = 1")
        assert error.startswith("interrupted")
        # A clean repeat: the same breaks, nothing opened or closed.
        repeat = await asyncio.to_thread(  # by the runbook's name
            subprocess.run,
            [sys.executable, str(ROOT / "manage.py"), "reconcile_positions"],
            env=base_env(DATABASE_URL=book_url, REDIS_URL=redis_url),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT / "tests",
            check=False,
        )
        assert repeat.returncode == 0, repeat.stderr
        assert "'breaks_opened': 0" in repeat.stdout
        assert "'breaks_resolved': 0" in repeat.stdout
        assert (await _state(blocker))[0] == expected_breaks(HOLDERS)
    finally:
        await blocker.close()


async def test_sigterm_stops_a_run_cleanly(book_url: str, redis_url: str) -> None:
    blocker = await asyncpg.connect(libpq_url(book_url))
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("UPDATE break_revision SET last_value = last_value")
        process = _start(book_url, redis_url)
        await _wait_blocked(book_url)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        await holding.rollback()
        code, output = await asyncio.to_thread(process.finish, 30)
        assert code == 1, output
        assert "stopped by a signal" in output
        row = await blocker.fetchrow("SELECT status, error FROM job_runs")
        assert row is not None
        assert row["status"] == "failed"
        assert row["error"].startswith("stopped")
        assert await blocker.fetchval("SELECT count(*) FROM reconciliation_breaks") == 0
    finally:
        await blocker.close()


def _scheduler(url: str, redis_url: str) -> Logged:
    return python_app(
        "jobs",
        "schedule",
        env=base_env(DATABASE_URL=url, REDIS_URL=redis_url, JOBS_SCHEDULE="demo", **UNREACHABLE),
    )


async def _until_logged(process: Logged, text: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.1)):
        if text in process.output():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} not logged: {process.describe()}")


async def _forget_breakers(redis_url: str) -> None:
    """The sync jobs opened circuits in the shared Redis; later tests expect them closed."""
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter("dpo:breaker:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _pair(connection: asyncpg.Connection, query: str) -> tuple[int, int]:
    row = await connection.fetchrow(query)
    assert row is not None
    return int(row[0]), int(row[1])


async def test_one_scheduler_across_two_processes_and_a_takeover_after_kill_9(
    book_url: str, redis_url: str
) -> None:
    active = _scheduler(book_url, redis_url)
    standby: Logged | None = None
    try:
        await _until_logged(active, "this scheduler is active")
        standby = _scheduler(book_url, redis_url)
        await _until_logged(standby, "another scheduler is active; standing by")
        connection = await asyncpg.connect(libpq_url(book_url))
        succeeded = (
            "SELECT count(*) FILTER (WHERE counts ? 'full'), "
            "count(*) FILTER (WHERE NOT counts ? 'full') "
            "FROM job_runs WHERE status = 'succeeded' "
            "AND job = 'reconcile_positions'"
        )
        try:
            for _ in range(300):
                if sum(await _pair(connection, succeeded)) >= 1:
                    break
                await asyncio.sleep(0.1)
            active.send_signal(signal.SIGKILL)
            active.wait(10)
            await _until_logged(standby, "this scheduler is active")
            # The new leader runs what the old one had not finished, and nothing twice.
            for _ in range(300):
                if await _pair(connection, succeeded) == (1, 1):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            counts = await _pair(connection, succeeded)
        finally:
            await connection.close()
        assert counts == (1, 1)
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(30) == 0
    finally:
        for process in (active, standby):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
        await _forget_breakers(redis_url)


def test_an_unreachable_database_is_one_line_and_exit_1(redis_url: str) -> None:
    result = run_dpo(
        "jobs",
        "run",
        "reconcile_positions",
        env=base_env(
            DATABASE_URL="postgresql://dpo:s3cret-pw@127.0.0.1:9/dpo", REDIS_URL=redis_url
        ),
    )
    assert result.returncode == 1, result.stderr
    assert "reconcile_positions: cannot start, the database is unavailable" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr

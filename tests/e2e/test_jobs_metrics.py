"""The scheduler's /metrics (JOBS_METRICS_PORT): job runs and the outbox, scraped from the
real `dpo jobs schedule` process running every job against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import IO

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dpo.db.urls import libpq_url
from dpo.embedded.process import free_port
from sandbox.server import DEMO_KEYS, Sandbox
from tests.e2e.conftest import ROOT, base_env
from tests.integration.api.committed import committed_api

JOBS = ("sync_fx_rates", "sync_csd", "reconcile_positions")
HOUR = 3600


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture
async def url(pg_server_url: str) -> AsyncIterator[str]:
    async with committed_api(pg_server_url) as api:
        yield api.url


def _scheduler(env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "jobs", "schedule"],
        env=env,
        cwd=ROOT / "tests",
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _wait(connection: asyncpg.Connection, query: str, seconds: float = 120) -> None:
    for _ in range(int(seconds / 0.5)):
        if await connection.fetchval(query):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"never true: {query}")


async def test_job_and_outbox_metrics_from_the_scheduler(
    url: str, redis_url: str, sandbox: Sandbox
) -> None:
    sandbox.world.reset()
    connection = await asyncpg.connect(libpq_url(url))
    port = free_port()
    began = time.time()
    try:
        # Two ops messages that wait (no OPS_EMAIL), the oldest an hour old; one to an investor.
        await connection.execute(
            "INSERT INTO notifications (key, audience, event, created_at) VALUES "
            "('ops:1', 'ops', 'job_failed', now() - interval '1 hour'), "
            "('ops:2', 'ops', 'breaks_opened', now())"
        )
        await connection.execute(
            "INSERT INTO notifications (key, audience, event, email) VALUES "
            "('inv:1', 'investor', 'tokens_issued', 'ada@example.com')"
        )
        env = base_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            JOBS_SCHEDULE="demo",
            JOBS_METRICS_PORT=str(port),
            **sandbox.environment(),
        )
        env.pop("OPS_EMAIL", None)
        with tempfile.TemporaryFile() as log:
            process = _scheduler(env, log)
            try:
                await _wait(
                    connection,
                    "SELECT count(DISTINCT job) = 3 FROM job_runs WHERE status = 'succeeded'",
                )
                await _wait(
                    connection, "SELECT status = 'sent' FROM notifications WHERE key = 'inv:1'"
                )
                # The backlog gauges are set after each delivery pass (every 5 s).
                async with httpx.AsyncClient(timeout=30) as client:
                    for _ in range(240):
                        scraped = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                        if "dpo_notifications_pending 2.0" in scraped:
                            break
                        await asyncio.sleep(0.5)
                succeeded: dict[str, int] = {
                    row["job"]: row["n"]
                    for row in await connection.fetch(
                        "SELECT job, count(*) AS n FROM job_runs WHERE status = 'succeeded' "
                        "GROUP BY job"
                    )
                }
            finally:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(30)
                if process.poll() is None:
                    process.kill()
                log.seek(0)
                output = log.read().decode()
    finally:
        await connection.close()
    assert f"scheduler metrics on 127.0.0.1:{port}/metrics" in output, output[-2000:]
    values = samples(scraped)
    for job in JOBS:
        runs = values[("dpo_job_runs_total", (("job", job), ("outcome", "succeeded")))]
        # Every succeeded run recorded in job_runs by then was counted (later ones may add).
        assert runs >= succeeded[job] >= 1, (job, runs, succeeded)
        assert (
            values[("dpo_job_run_seconds_count", (("job", job), ("outcome", "succeeded")))] == runs
        )
        last = values[("dpo_job_last_success_timestamp_seconds", (("job", job),))]
        assert began <= last <= time.time()
    assert values[("dpo_notification_deliveries_total", (("outcome", "sent"),))] == 1
    assert values[("dpo_notifications_pending", ())] == 2
    assert values[("dpo_notifications_oldest_pending_seconds", ())] >= HOUR
    for secret in DEMO_KEYS.values():
        assert secret not in scraped

"""railway-tasks.sh, run for real: the three jobs in order, stopping at the first failure.

The jobs are the real `python manage.py` commands against a real database, Redis and the
provider simulators. `railway` itself needs a Railway account: where the test checks how the
script calls it, a stand-in on PATH records the call and runs the command the way `railway run`
does (on this machine, with the variables already in the environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from dpo.db.urls import libpq_url
from sandbox.server import Sandbox
from tests.e2e.conftest import ROOT, base_env
from tests.integration.api.committed import committed_api

SCRIPT = ROOT / "railway-tasks.sh"
BIN = Path(sys.executable).parent
JOBS = ["sync_fx_rates", "sync_csd", "reconcile_positions"]
# A stand-in for the Railway CLI: records its arguments, then runs what follows
# `run --service NAME` here, as `railway run` does with the service's variables injected:
# DATABASE_URL and REDIS_URL name Railway's private network, which does not resolve here, and
# the test's servers are the databases' public URLs.
RAILWAY = """#!{python}
import json, os, sys
with open(os.environ["RAILWAY_CALLS"], "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
assert sys.argv[1:3] == ["run", "--service"], sys.argv
os.environ["DATABASE_PUBLIC_URL"] = os.environ["DATABASE_URL"]
os.environ["REDIS_PUBLIC_URL"] = os.environ["REDIS_URL"]
os.environ["DATABASE_URL"] = "postgresql://postgres:pw@postgres.railway.internal:5432/railway"
os.environ["REDIS_URL"] = "redis://default:pw@redis.railway.internal:6379"
os.execvp(sys.argv[4], sys.argv[4:])
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The provider simulators."""
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture
async def database(pg_server_url: str) -> AsyncIterator[str]:
    """A migrated database of its own."""
    async with committed_api(pg_server_url) as api:
        yield api.url


def _env(
    tmp_path: Path, database: str, redis_url: str, sandbox: Sandbox, **extra: str
) -> dict[str, str]:
    railway = tmp_path / "bin" / "railway"
    railway.parent.mkdir(exist_ok=True)
    railway.write_text(RAILWAY.format(python=sys.executable))
    railway.chmod(0o755)
    return base_env(
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        **{**sandbox.environment(), **extra},
        PROVIDER_RETRY_ATTEMPTS="1",
        RAILWAY_CALLS=str(tmp_path / "calls"),
        PATH=f"{railway.parent}:{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    )


def _run(env: dict[str, str], *jobs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *jobs],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def _runs(url: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        rows = await connection.fetch("SELECT job, status FROM job_runs ORDER BY id")
    finally:
        await connection.close()
    return [(row["job"], row["status"]) for row in rows]


def test_shellcheck_clean() -> None:
    done = subprocess.run(
        [
            str(BIN / "shellcheck"),
            "--severity=style",
            str(SCRIPT),
            str(ROOT / "railway-setup.sh"),
            str(ROOT / "ops" / "debian-base.sh"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


async def test_all_three_in_order_through_railway_run(
    tmp_path: Path, database: str, redis_url: str, sandbox: Sandbox
) -> None:
    sandbox.world.reset()
    done = _run(_env(tmp_path, database, redis_url, sandbox))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.rstrip().endswith("All tasks completed")
    calls = [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]
    assert calls == [
        ["run", "--service", "web", "python", "manage.py", "--public-urls", job] for job in JOBS
    ]
    assert await _runs(database) == [(job, "succeeded") for job in JOBS]


async def test_stops_at_the_first_failure(
    tmp_path: Path, empty_database: str, redis_url: str, sandbox: Sandbox
) -> None:
    # A database nobody migrated: the first job cannot start (exit 1), nothing after it runs.
    done = _run(_env(tmp_path, empty_database, redis_url, sandbox))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "sync_fx_rates failed with exit code 1" in done.stderr
    assert "-> sync_csd" not in done.stdout
    calls = [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]
    assert calls == [
        ["run", "--service", "web", "python", "manage.py", "--public-urls", "sync_fx_rates"]
    ]


async def test_a_later_failure_keeps_the_earlier_work(
    tmp_path: Path, database: str, redis_url: str, sandbox: Sandbox
) -> None:
    sandbox.world.reset()
    env = _env(
        tmp_path,
        database,
        redis_url,
        sandbox,
        RAILWAY_RUN="",
        EUROCLEAR_API_BASE="http://127.0.0.1:9",
        CLEARSTREAM_PMI_BASE="http://127.0.0.1:9",
    )
    done = _run(env, "sync_fx_rates", "sync_csd", "reconcile_positions")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert not (tmp_path / "calls").exists()  # RAILWAY_RUN="" runs the jobs directly
    assert "sync_csd failed with exit code 1" in done.stderr
    assert await _runs(database) == [("sync_fx_rates", "succeeded"), ("sync_csd", "failed")]


def test_refuses_an_unknown_job(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "sync_fx_rates", "drop_everything"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "RAILWAY_RUN": "false"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown job 'drop_everything'" in done.stderr
    assert "Starting" not in done.stdout  # nothing ran


def test_without_the_public_urls_a_job_refuses_in_one_line(tmp_path: Path) -> None:
    # What `railway run` gives when the databases' TCP proxy is off: the private URLs only.
    env = base_env(
        DATABASE_URL="postgresql://postgres:Pg-Secret-77@postgres.railway.internal:5432/railway",
        REDIS_URL="redis://default:Rd-Secret-77@redis.railway.internal:6379",
        DATABASE_PUBLIC_URL="${{Postgres.DATABASE_PUBLIC_URL}}",
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "--public-urls", "sync_fx_rates"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "configuration error: --public-urls: DATABASE_PUBLIC_URL: is a Railway reference that "
        "did not resolve (the database service is not named as railway-setup.sh expects, or "
        "its TCP proxy is off); REDIS_PUBLIC_URL: not set (enable the database's TCP proxy; "
        "railway-setup.sh references it on every service)"
    ]
    assert "Secret-77" not in done.stdout + done.stderr
    helped = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "--public-urls", "sync_fx_rates", "--help"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr

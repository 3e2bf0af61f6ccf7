"""Reconciliation benchmark: `reconcile_positions` over N holders x 3 locations.

Usage: .venv/bin/python bench/reconcile.py [--holders 10000,100000] [--passes 2]

For each size: a fresh `dpo_bench_reconcile` database on the configured (DATABASE_URL) or an
embedded PostgreSQL, migrated, planted set-based with the synthetic book of tests/support/book.py
(N holders with ledger, chain and CSD positions; one in ten with a break), then the real
command `dpo jobs run reconcile_positions` run `--passes` times as a child process. Prints per
pass the job's own duration (job_runs.finished_at - started_at), the wall time of the command,
the child's peak RSS (wait4 ru_maxrss) and the breaks opened, and one `RESULT {json}` line.
Pass 1 opens every break; later passes find them unchanged (the hourly steady state).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from benchdb import fresh_database  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dpo.db.migrate import upgrade_async  # noqa: E402
from dpo.db.urls import libpq_url  # noqa: E402
from dpo.embedded.postgres import EmbeddedPostgres  # noqa: E402
from dpo.embedded.process import free_port  # noqa: E402
from dpo.embedded.redis import EmbeddedRedis  # noqa: E402
from tests.support.book import PLANT, expected_breaks  # noqa: E402

# Stated in issue 11: 100,000 holders x 3 locations within 10 s and 300 MB peak RSS.
TARGET_SECONDS, TARGET_RSS_MB = 10.0, 300


async def _plant(url: str, holders: int) -> float:
    started = time.perf_counter()
    await upgrade_async(url)
    connection = await asyncpg.connect(libpq_url(url))
    try:
        for statement in PLANT:
            await connection.execute(statement.replace(":n", str(holders)))
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def _last_run(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        row = await connection.fetchrow(
            "SELECT status, extract(epoch FROM finished_at - started_at) AS seconds, counts "
            "FROM job_runs ORDER BY id DESC LIMIT 1"
        )
        assert row is not None
        return {
            "status": row["status"],
            "seconds": float(row["seconds"]),
            "counts": json.loads(row["counts"]),
        }
    finally:
        await connection.close()


def _run_job(url: str, redis_url: str) -> tuple[float, float, int]:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "jobs", "run", "reconcile_positions"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", default="10000,100000")
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    scratch = ROOT / ".dpo" / "bench" / f"reconcile-{os.getpid()}"
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        server_url = os.environ.get("DATABASE_URL")
        if server_url is None:
            postgres = EmbeddedPostgres(scratch / "pg", free_port())
            server_url = postgres.start()
            started.append(postgres)
        redis_url = os.environ.get("REDIS_URL")
        if redis_url is None:
            redis = EmbeddedRedis(scratch / "redis", free_port())
            redis_url = redis.start()
            started.append(redis)
        results = []
        for holders in (int(size) for size in args.holders.split(",")):
            url = asyncio.run(fresh_database(server_url, "dpo_bench_reconcile"))
            plant = asyncio.run(_plant(url, holders))
            print(f"{holders:,} holders x 3 locations planted in {plant:.1f} s")
            for number in range(1, args.passes + 1):
                wall, rss, code = _run_job(url, redis_url)
                run = asyncio.run(_last_run(url))
                counts = run["counts"]
                print(
                    f"  pass {number}: job {run['seconds']:.2f} s (target ≤ "
                    f"{TARGET_SECONDS:.0f} s), command {wall:.2f} s, peak RSS {rss:.0f} MB "
                    f"(target ≤ {TARGET_RSS_MB} MB), checked {counts['positions_checked']:,},"
                    f" opened {counts['breaks_opened']:,}, exit {code}"
                )
                results.append(
                    {
                        "holders": holders,
                        "pass": number,
                        "job_seconds": run["seconds"],
                        "wall_seconds": round(wall, 3),
                        "peak_rss_mb": round(rss),
                        "breaks_opened": counts["breaks_opened"],
                        "breaks_found": counts["breaks_found"],
                        "exit": code,
                    }
                )
            assert sum(expected_breaks(holders).values()) == results[-1]["breaks_found"]
        print("RESULT " + json.dumps({"load": os.getloadavg()[0], "runs": results}))
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

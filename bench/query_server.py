"""What bench/query.py's `dpo web` processes are given and what it reads back from them: their
environment, their response-cache counters, announced writes, and SQL statements per request
(bench/query_count.py, run as a process over the code under test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import redis

from dpo.channels import channels_for

BENCH = Path(__file__).resolve().parent
SECRET = "bench-secret-key-" + "x" * 32


def bench_settings(database_url: str, redis_url: str, *, cache: bool) -> dict[str, str]:
    """The web process's environment: limits out of the way, the cache on or off."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_ANON": "100000000/min",
        "RATE_LIMIT_USER": "100000000/min",
        "RESPONSE_CACHE": "true" if cache else "false",
        # The query budget (50,000 objects a minute per caller) runs out within seconds.
        "GRAPHQL_COST_PER_MINUTE": "1000000000",
    }


def statements(
    variables: dict[str, str], headers: dict[str, str], queries: list[str], tree: Path | None
) -> dict[str, int]:
    """SQL statements per request of each query, of our code or of `tree`'s."""
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    if tree is not None:  # its packages before the installed (ours)
        env["PYTHONPATH"] = str(tree)
    job = {
        "settings": variables,
        "database_url": variables["DATABASE_URL"],
        "redis_url": variables["REDIS_URL"],
        "headers": headers,
        "queries": queries,
    }
    done = subprocess.run(
        [sys.executable, str(BENCH / "query_count.py")],
        input=json.dumps(job).encode(),
        env=env,
        cwd=tree or BENCH,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"counting statements failed: {done.stderr.decode()[-2000:]}")
    counts: dict[str, int] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return counts


def cache_counts(base: str) -> dict[str, float]:
    """The server's response-cache counters (hits, misses, bypasses, invalidations)."""
    counts: dict[str, float] = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        for prefix in (
            "dpo_graphql_response_cache_total{result=",
            "dpo_graphql_response_cache_invalidations_total{cause=",
        ):
            if line.startswith(prefix):
                label, value = line[len(prefix) :].split("} ")
                name = label.strip('"') if "invalidations" not in prefix else "invalidated"
                counts[name] = counts.get(name, 0) + float(value)
    return counts


def announce_writes(redis_url: str, rate: float, stop: threading.Event) -> None:
    """Announce a committed write `rate` times a second (as mutations and the listener do)."""
    client = redis.Redis.from_url(redis_url)
    try:
        while not stop.wait(1 / rate):
            client.publish(channels_for(redis_url).invalidate, "bench")
    finally:
        client.close()

"""Load generator: two GraphQL queries against one uvicorn worker with 10,000 offerings.

Usage: .venv/bin/python bench/query.py [--seconds 10] [--concurrency 8] [--clients 2]
                                       [--modes uncached,cached] [--writes 0]

Seeds a fresh `dpo_bench` database on the configured (or embedded) PostgreSQL; then, for
each mode (response cache off, on), starts `dpo web` as a separate process, counts the SQL
statements one request costs (in process, through the same application; a repeated request
with the cache on is a hit), drives each query from client processes (bench/loadgen.py:
keep-alive HTTP/1.1 on raw asyncio streams) and prints requests/s, p50 and p99 latency,
CPU per request of the server and of the generator, and one `RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import redis
from benchdb import fresh_database  # bench/ is the script's folder
from loadgen import post_request, run_load  # bench/ is the script's folder
from query_seed import HOLDER, OFFERINGS, seed  # bench/ is the script's folder
from sqlalchemy import event
from webserver import web_process

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.channels import channels_for
from dpo.db.migrate import upgrade
from dpo.embedded.stack import ensure_services
from dpo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-" + "x" * 32
QUERIES = {
    "offerings": "query Offerings { offerings(first: 20) { totalCount edges { node { id name "
    "isin status issuer { id name } totals { investmentsCount investorsCount "
    "amountCommitted } } } } }",
    "positions": "query Positions($holder: Address!) { positions(holder: $holder, first: 20) "
    "{ totalCount totals { location quantity } edges { node { id quantity "
    "location } } } }",
}


def payload(name: str) -> dict[str, Any]:
    return {
        "query": QUERIES[name],
        "operationName": name.capitalize(),
        "variables": {"holder": HOLDER} if name == "positions" else {},
    }


async def statements_per_request(
    settings: Settings, database_url: str, redis_url: str, headers: dict[str, str]
) -> dict[str, int]:
    """SQL statements of one request of each query, counted on the application's engine."""
    from app.web import create_app

    app = create_app(settings, database_url=database_url, redis_url=redis_url)
    counts: dict[str, int] = {}
    async with app.router.lifespan_context(app):
        cache = getattr(app.state, "response_cache", None)
        if cache is not None:  # serves nothing until subscribed to the invalidations
            await asyncio.wait_for(cache.subscribed.wait(), 30)
        counter = {"n": 0}

        def count(*_: object) -> None:
            counter["n"] += 1

        event.listen(app.state.runtime.engine.sync_engine, "before_cursor_execute", count)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for name in QUERIES:
                await client.post("/graphql", json=payload(name), headers=headers)  # warm-up
                counter["n"] = 0
                response = await client.post("/graphql", json=payload(name), headers=headers)
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise SystemExit(f"{name} failed: {response.status_code} {body}")
                counts[name] = counter["n"]
    return counts


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


def run_mode(
    mode: str,
    *,
    database_url: str,
    redis_url: str,
    headers: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Serve with the cache on or off and measure both queries."""
    variables = bench_settings(database_url, redis_url, cache=mode == "cached")
    settings = Settings(**variables)  # type: ignore[arg-type]  # aliases
    statements = asyncio.run(statements_per_request(settings, database_url, redis_url, headers))
    results: dict[str, Any] = {}
    with web_process({**os.environ, **variables}) as (server, base):
        for name in QUERIES:
            target = post_request(base, "/graphql", json.dumps(payload(name)).encode(), headers)
            run_load(
                target, seconds=2, connections=args.concurrency, clients=args.clients
            )  # warm-up
            before = cache_counts(base)
            stop = threading.Event()
            writer = threading.Thread(
                target=announce_writes, daemon=True, args=(redis_url, args.writes, stop)
            )
            if args.writes > 0:
                writer.start()
            try:
                figures = run_load(
                    target,
                    seconds=args.seconds,
                    connections=args.concurrency,
                    clients=args.clients,
                    server_pid=server.pid,
                )
            finally:
                stop.set()
            after = cache_counts(base)
            cache = {k: int(after[k] - before.get(k, 0)) for k in after}
            results[name] = {**figures, "sql_per_request": statements[name], "cache": cache}
            print(
                f"{mode:9} {name:10} {figures['rps']:8.1f} req/s  "
                f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms  "
                f"server {figures['server_cpu_us_per_request']:7.1f} us CPU/request  "
                f"client {figures['client_cpu_us_per_request']:5.1f} us  "
                f"SQL/request {statements[name]}  cache {cache}",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--concurrency", type=int, default=8, help="keep-alive connections per client process"
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument(
        "--writes",
        type=float,
        default=0.0,
        help="committed writes announced per second during each run",
    )
    parser.add_argument(
        "--modes",
        default="uncached,cached",
        help="comma-separated: uncached (response cache off), cached",
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"uncached", "cached"}:
        parser.error("--modes takes uncached and/or cached")

    base_settings = Settings()
    services = ensure_services(base_settings)
    try:
        database_url = asyncio.run(fresh_database(services.database_url, "dpo_bench"))
        upgrade(database_url)
        asyncio.run(seed(database_url))
        settings = Settings(DJANGO_SECRET_KEY=SECRET)  # type: ignore[call-arg]
        admin = Principal(kind=Kind.STAFF, role="admin", user_id=1)
        headers = {"Authorization": "Bearer " + create_access_token(admin, settings=settings).token}
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        results = {
            mode: run_mode(
                mode,
                database_url=database_url,
                redis_url=services.redis_url,
                headers=headers,
                args=args,
            )
            for mode in modes
        }
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
        print(
            "RESULT "
            + json.dumps(
                {
                    "bench": "query",
                    "offering_rows": OFFERINGS,
                    "connections": args.concurrency * args.clients,
                    "seconds": args.seconds,
                    "writes_per_second": args.writes,
                    "load_before": load_before,
                    "load_after": load_after,
                    **results,
                }
            )
        )
    finally:
        services.stop()


if __name__ == "__main__":
    main()

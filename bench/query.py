"""Load generator: GraphQL reads against one uvicorn worker with 10,000 offerings.

Usage: .venv/bin/python bench/query.py [--seconds 5] [--rounds 2] [--concurrency 8]
                                       [--clients 2] [--modes uncached,cached] [--writes 0]
                                       [--queries offerings,positions,events,offering]
                                       [--compare REF]

Seeds a fresh database (`--database`, dpo_bench) on the configured (or embedded) PostgreSQL;
then, for each mode (response cache off, on), starts `dpo web` as a separate process, counts the SQL
statements one request costs (bench/query_count.py, through the same application; a
repeated request with the cache on is a hit), drives each query (bench/query_queries.py)
from client processes (bench/loadgen.py: keep-alive HTTP/1.1 on raw asyncio streams) for
`--rounds` rounds of `--seconds` and prints requests/s, p50 and p99 latency, CPU per request
of the server and of the generator, and one `RESULT {json}` line.

With `--compare REF` a second `dpo web` runs commit REF's code (a detached worktree,
bench/previous.py) on the same database; each round drives ours and the previous one by turns
(which goes first alternates), and a summary per query sets them side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchdb import fresh_database  # bench/ is the script's folder
from loadgen import post_request, run_load
from previous import checkout, drop_checkout
from query_queries import QUERIES, payload
from query_seed import EVENTS, OFFERINGS, seed
from query_server import SECRET, announce_writes, bench_settings, cache_counts, statements
from webserver import web_process

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.migrate import upgrade
from dpo.embedded.stack import ensure_services
from dpo.settings import Settings


def one_run(target: Any, pid: int, base: str, redis_url: str, args: argparse.Namespace) -> Any:
    """Drive one server for `--seconds`; its figures and cache outcomes."""
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
            server_pid=pid,
        )
    finally:
        stop.set()
    after = cache_counts(base)
    return {**figures, "cache": {k: int(after[k] - before.get(k, 0)) for k in after}}


def pooled(runs: list[dict[str, Any]], seconds: float, sql: int) -> dict[str, Any]:
    """The rounds of one side as one figure: totals, median p50, worst p99."""
    requests = sum(r["requests"] for r in runs)
    cpu = sum(r["server_cpu_us_per_request"] * r["requests"] for r in runs)
    client = sum(r["client_cpu_us_per_request"] * r["requests"] for r in runs)
    return {
        "requests": requests,
        "rps": round(requests / (seconds * len(runs)), 1),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "server_cpu_us_per_request": round(cpu / requests, 1),
        "client_cpu_us_per_request": round(client / requests, 1),
        "sql_per_request": sql,
        "rounds": runs,
    }


def line(label: str, f: dict[str, Any]) -> str:
    return (
        f"{label:34} {f['rps']:8.1f} req/s  p50 {f['p50_ms']:6.2f} ms  "
        f"p99 {f['p99_ms']:6.2f} ms  server {f['server_cpu_us_per_request']:7.1f} us "
        f"CPU/request  client {f['client_cpu_us_per_request']:5.1f} us  "
        f"SQL/request {f['sql_per_request']}"
    )


def run_mode(
    mode: str,
    *,
    database_url: str,
    redis_url: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    tree: Path | None,
) -> dict[str, Any]:
    """Serve with the cache on or off and measure each query, ours and the previous code's."""
    variables = bench_settings(database_url, redis_url, cache=mode == "cached")
    trees = {"ours": None, **({"previous": tree} if tree else {})}
    sql = {side: statements(variables, headers, args.queries, code) for side, code in trees.items()}
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        servers = {
            side: stack.enter_context(web_process({**os.environ, **variables}, tree=code))
            for side, code in trees.items()
        }
        for name in args.queries:
            body = json.dumps(payload(name)).encode()
            targets = {
                side: post_request(base, "/graphql", body, headers)
                for side, (_, base) in servers.items()
            }
            for target in targets.values():  # warm-up
                run_load(target, seconds=2, connections=args.concurrency, clients=args.clients)
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in trees}
            for n in range(args.rounds):
                sides = list(trees) if n % 2 == 0 else list(reversed(trees))
                for side in sides:
                    server, base = servers[side]
                    figures = one_run(targets[side], server.pid, base, redis_url, args)
                    runs[side].append(figures)
                    print(
                        line(
                            f"{mode} {name} round {n + 1} {side}",
                            {**figures, "sql_per_request": sql[side][name]},
                        )
                        + f"  cache {figures['cache']}",
                        flush=True,
                    )
            results[name] = {
                side: pooled(runs[side], args.seconds, sql[side][name]) for side in trees
            }
            for side in trees:
                print(line(f"{mode} {name} ALL {side}", results[name][side]), flush=True)
            if tree is not None:
                ours, previous = results[name]["ours"], results[name]["previous"]
                ratio = ours["server_cpu_us_per_request"] / previous["server_cpu_us_per_request"]
                print(
                    f"{mode} {name}: server CPU/request ours / previous = {ratio:.2f}", flush=True
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=2)
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
    parser.add_argument(
        "--queries", default=",".join(QUERIES), help="comma-separated: " + ", ".join(QUERIES)
    )
    parser.add_argument("--compare", help="also run this commit's `dpo web` (previous code)")
    parser.add_argument(
        "--database", default="dpo_bench", help="the database created anew (and its name)"
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"uncached", "cached"}:
        parser.error("--modes takes uncached and/or cached")
    args.queries = [q for q in args.queries.split(",") if q]
    if not args.queries or set(args.queries) - set(QUERIES):
        parser.error("--queries takes " + ", ".join(QUERIES))
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds must be positive and --rounds at least 1")

    base_settings = Settings()
    services = ensure_services(base_settings)
    scratch = tempfile.TemporaryDirectory(prefix="dpo-bench-query-")
    tree = checkout(args.compare, Path(scratch.name) / "previous") if args.compare else None
    try:
        database_url = asyncio.run(fresh_database(services.database_url, args.database))
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
                tree=tree,
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
                    "event_rows": EVENTS,
                    "compare": args.compare,
                    "connections": args.concurrency * args.clients,
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "writes_per_second": args.writes,
                    "load_before": load_before,
                    "load_after": load_after,
                    **results,
                }
            )
        )
    finally:
        services.stop()
        if tree is not None:
            drop_checkout(tree)
        scratch.cleanup()


if __name__ == "__main__":
    main()

"""Python calls per uncached GraphQL request, ours and an earlier commit's, in one run.

Usage: .venv/bin/python bench/query_calls.py [--compare REF] [--requests 200] [--anonymous]
                                             [--queries typename,offering,offerings,...]
                                             [--by-package]

A deterministic measure of the Python work per request where timings drift on a busy
machine. Seeds bench/query.py's database (10,000 offerings), then for each side starts a
`dpo web` worker (response cache off, limits out of the way, as bench/query.py) under
cProfile (bench/calls_server.py) and, per query, sends 30 requests to warm it, then
`--requests` more on one keep-alive connection while profiled: all calls the worker made
(its event loop: uvicorn, middleware, GraphQL, SQL, Redis) divided by the requests. Totals
move by a few tens of calls between runs with the loop's own iterations. `--by-package` also
prints, per query and side, the calls per request and the share of the profiled own time of
each package (bench/profile_groups.py): where the remaining work is.

Queries: `typename` (`{ __typename }`, the pipeline alone), bench/query.py's `offerings`,
`positions`, `events` and `offering`, and bench/ponder.py's three as it sends them
(`ponder-events`, `ponder-positions`, `ponder-offering`). Signed in as an admin unless
`--anonymous`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from benchdb import fresh_database  # bench/ is the script's folder
from ponder_reads import body as ponder_body
from previous import checkout, drop_checkout
from profile_groups import by_package, print_shares
from query_queries import QUERIES, payload
from query_seed import HOLDER, seed
from query_server import SECRET, bench_settings
from webserver import wait_answering

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.migrate import upgrade
from dpo.embedded.process import free_port
from dpo.embedded.stack import ensure_services
from dpo.settings import Settings
from schema.relay import to_global_id

BENCH = Path(__file__).resolve().parent
NAMES = ["typename", *QUERIES, "ponder-events", "ponder-positions", "ponder-offering"]
WARM_UP = 30


def content(name: str) -> bytes:
    if name == "typename":
        return json.dumps({"query": "{ __typename }"}).encode()
    if name.startswith("ponder-"):
        variables = {"holder": HOLDER, "id": to_global_id("Offering", 1)}
        return ponder_body("ours", name.removeprefix("ponder-"), variables)
    return json.dumps(payload(name)).encode()


def calls(
    env: dict[str, str], tree: Path | None, headers: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    """Python calls per request of each query on one side."""
    import pstats

    scratch = Path(tempfile.mkdtemp(prefix="dpo-bench-calls-"))
    out = scratch / "profile"
    port = free_port()
    code = str(tree or BENCH.parent)
    server = subprocess.Popen(
        [sys.executable, str(BENCH / "calls_server.py"), str(out), str(port)],
        env={**env, "PYTHONPATH": code, "WEB_CONCURRENCY": "1"},
        cwd=code,
    )
    base = f"http://127.0.0.1:{port}"
    found: dict[str, float] = {}
    try:
        wait_answering(base)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for name in args.queries:
                body = content(name)
                for _ in range(WARM_UP):
                    answer = client.post("/graphql", content=body)
                    if answer.status_code != 200 or answer.json().get("errors"):
                        raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
                server.send_signal(signal.SIGUSR1)
                time.sleep(0.3)
                for _ in range(args.requests):
                    client.post("/graphql", content=body)
                server.send_signal(signal.SIGUSR2)
                while not out.exists():
                    time.sleep(0.1)
                time.sleep(0.5)  # written whole
                stats = pstats.Stats(str(out))
                found[name] = stats.total_calls / args.requests  # type: ignore[attr-defined]
                if args.by_package:
                    print_shares(name, by_package(stats, Path(code)), args.requests)
                out.unlink()
    finally:
        server.terminate()
        server.wait(20)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--compare", help="also profile this commit's `dpo web`")
    parser.add_argument("--requests", type=int, default=200, help="profiled per query")
    parser.add_argument("--anonymous", action="store_true", help="send no bearer token")
    parser.add_argument("--queries", default=",".join(NAMES), help=", ".join(NAMES))
    parser.add_argument("--database", default="dpo_bench_calls")
    parser.add_argument(
        "--by-package", action="store_true", help="also print each query's calls by package"
    )
    args = parser.parse_args()
    args.queries = [q for q in args.queries.split(",") if q]
    if not args.queries or set(args.queries) - set(NAMES) or args.requests < 1:
        parser.error("--queries takes " + ", ".join(NAMES) + "; --requests at least 1")
    services = ensure_services(Settings())
    scratch = tempfile.TemporaryDirectory(prefix="dpo-bench-calls-")
    tree = checkout(args.compare, Path(scratch.name) / "previous") if args.compare else None
    try:
        database_url = asyncio.run(fresh_database(services.database_url, args.database))
        upgrade(database_url)
        asyncio.run(seed(database_url))
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env |= bench_settings(database_url, services.redis_url, cache=False)
        headers = {"Content-Type": "application/json"}
        if not args.anonymous:
            admin = Principal(kind=Kind.STAFF, role="admin", user_id=1)
            settings = Settings(DJANGO_SECRET_KEY=SECRET)
            token = create_access_token(admin, settings=settings)
            headers["Authorization"] = "Bearer " + token.token
        sides: dict[str, dict[str, float]] = {"ours": calls(env, None, headers, args)}
        if tree is not None:
            sides[args.compare] = calls(env, tree, headers, args)
        print(f"{'query':<18}" + "".join(f"{side[:12]:>14}" for side in sides))
        for name in args.queries:
            print(f"{name:<18}" + "".join(f"{sides[s][name]:>14,.0f}" for s in sides))
        print("RESULT " + json.dumps({"bench": "query_calls", "requests": args.requests, **sides}))
    finally:
        services.stop()
        if tree is not None:
            drop_checkout(tree)
        scratch.cleanup()


if __name__ == "__main__":
    main()

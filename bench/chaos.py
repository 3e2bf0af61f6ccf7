"""Chaos run of `dpo listener` and `dpo web` processes against anvil, diffed against a clean run.

Usage: .venv/bin/python bench/chaos.py [--kills 20] [--reorgs 16] [--takeovers 6]
       [--db-kills 20] [--lag-seconds 20] [--window 8] [--subscribers 50] [--web-rounds 9]
       [--scenarios kill9,reorgs,leader,dbfaults,lag,webredis]

Starts PostgreSQL, Redis and anvil in a scratch folder under .dpo/bench/ (removed afterwards,
bench/stack.py), deploys the contracts and emits events with bench/emitter.py, then runs,
each on a fresh database:

- kill9: the listener process killed with SIGKILL at random moments of a backfill, restarted;
- reorgs: anvil_reorg of depths 1..window (the window itself included) under a following
  listener, some while it is stopped, with replacement transactions;
- leader: two listener processes; the active one killed with SIGKILL; the takeover time is
  from the kill until the other holds the advisory lock;
- dbfaults: the listener's connections terminated mid-transaction (pg_terminate_backend),
  then a stretch where every statement times out; process exits are counted;
- lag: the listener behind the fault proxy (tests/support/faulty_proxy.py) answering as a
  node 1-30 blocks behind or without receipts, mixed with 500s and cut answers, while events
  are emitted;
- webredis: 50 WebSocket subscribers resuming by cursor through kill -9s of `dpo web`, Redis
  restarts and a frozen Redis, with shallow reorgs (bench/chaos_web.py).

The listener scenarios are in bench/chaos_listener.py. Every scenario ends with every table
diffed against a clean in-process backfill of the same chain (bench/chaos_world.py): rows
lost, rows extra (duplicated or wrong). Prints one `RESULT {json}` per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from pathlib import Path

from chaos_listener import dbfaults, kill9, lag, leader, reorgs
from chaos_web import webredis
from chaos_world import World
from stack import Stack, bench_stack

from dpo.chain.deploy import deploy_all
from dpo.embedded.anvil import DEV_PRIVATE_KEY

LOG_MARKS = (
    "refused an answer",
    "refused the provider's answers",
    "database error",
    "CRITICAL",
    "ERROR",
    "Traceback",
)


def marks(log: Path) -> dict[str, int]:
    """Lines of a log that carry each mark."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return {what: sum(what in line for line in lines) for what in LOG_MARKS}


async def run(args: argparse.Namespace, stack: Stack) -> None:
    addresses = await deploy_all(stack.rpc_url, DEV_PRIVATE_KEY)
    world = World(stack.database_url, stack.redis_url, stack.rpc_url, addresses, args.window)
    await world.emit(args.events, 100)
    log, web_log = stack.scratch / "listener.log", stack.scratch / "web.log"
    scenarios = {
        "kill9": kill9,
        "reorgs": reorgs,
        "leader": leader,
        "dbfaults": dbfaults,
        "lag": lag,
        "webredis": functools.partial(webredis, stack=stack, web_log=web_log),
    }
    for name in args.scenarios.split(","):
        started = time.monotonic()
        result = await scenarios[name](world, args, log)
        result["seconds"] = round(time.monotonic() - started, 1)
        result["emits_with_a_reverted_last_tx"] = world.reverted_emits
        print("RESULT " + json.dumps(result), flush=True)
    print("listener log lines: " + json.dumps(marks(log)))
    print("web log lines: " + json.dumps(marks(web_log)))
    if web_log.exists() and "Traceback" in (text := web_log.read_text(errors="replace")):
        start = text.index("Traceback")
        print("first web traceback:\n" + text[max(0, start - 300) : start + 4000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--reorgs", type=int, default=16)
    parser.add_argument("--takeovers", type=int, default=6)
    parser.add_argument("--db-kills", type=int, default=20)
    parser.add_argument("--lag-seconds", type=float, default=20)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument(
        "--web-rounds",
        type=int,
        default=9,
        help="faults of webredis: web kill -9, Redis restart, Redis freeze",
    )
    parser.add_argument("--scenarios", default="kill9,reorgs,leader,dbfaults,lag,webredis")
    args = parser.parse_args()
    # Always embedded: webredis restarts and freezes the Redis server.
    with bench_stack("chaos", reuse=False) as stack:
        asyncio.run(run(args, stack))


if __name__ == "__main__":
    main()

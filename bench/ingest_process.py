"""The real `dpo listener` process backfilling the bench's chain: ours, and `--compare REF`'s.

Each backfill gets a fresh database migrated by its own code (`python -m app migrate`), the
bench's offering and paid orders, and then `python -m app listener` with the default settings
(plus whatever LISTENER_* the environment sets), from our tree or from REF's detached
worktree (bench/previous.py). The clock starts when the listener holds its advisory lock (one
active listener per chain, taken before it fetches anything), so process start-up (imports,
connections) is left out alike for both; it stops when the checkpoint reaches the head. CPU
seconds of the listener and of PostgreSQL are taken over the same span. A listener whose
checkpoint does not move for STALL seconds (one that refuses the chain's answers and retries,
say) stops the run with the end of its log instead of leaving it waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pg_work
import psutil
from benchdb import OURS, prepared_database
from emitter import Chain
from measure import tree_cpu
from previous import checkout, drop_checkout
from stack import ROOT, Stack, pid_of

STALL = 120.0  # seconds without a new checkpoint before a backfill is called stuck


def _env(database_url: str, stack: Stack, addresses: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    return env | {
        "DATABASE_URL": database_url,
        "REDIS_URL": stack.redis_url,
        "BLOCKCHAIN_RPC_URL": stack.rpc_url,
        "BLOCKCHAIN_NETWORK": "anvil",
        "START_BLOCK_NUMBER": "0",
        "LOG_LEVEL": "WARNING",
        **addresses,
    }


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _progress(connection: asyncpg.Connection) -> tuple[bool, int, int]:
    """(listener lock held, checkpoint block or -1, feed numbers handed out; no gaps)."""
    row = await connection.fetchrow(
        "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())), "
        "(SELECT last_processed_block FROM listener_checkpoints), "
        "(SELECT last_value FROM feed_sequence)"
    )
    assert row is not None
    return bool(row[0]), (-1 if row[1] is None else int(row[1])), int(row[2] or 0)


async def _outcome(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM chain_events WHERE NOT removed), "
            "(SELECT count(*) FROM investments WHERE state = 'issued'), "
            "(SELECT count(*) FROM notifications WHERE event = 'tokens_issued')"
        )
    finally:
        await connection.close()
    assert row is not None
    return {"stored": int(row[0]), "issued_orders": int(row[1]), "messages": int(row[2])}


async def backfill(
    label: str,
    tree: Path | None,
    stack: Stack,
    addresses: dict[str, str],
    head: int,
    investments: int,
    stall: float = STALL,
    count_work: bool = False,
    database: str = "dpo_bench_ingest",
) -> dict[str, Any]:
    """One backfill by a `dpo listener` process of `tree`'s code (None: ours)."""
    database_url = await prepared_database(
        stack.database_url,
        database,
        tree,
        addresses["ISSUANCE_CONTRACT_ADDRESS"],
        investments,
    )
    work = await pg_work.start(database_url) if count_work else None
    env = _env(database_url, stack, addresses)
    cwd = tree or ROOT / "bench"
    log = (stack.scratch / f"listener-{label}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "listener", env=env, cwd=cwd, stdout=log, stderr=log
    )
    child, pg_pid = psutil.Process(process.pid), pid_of(stack.postgres)
    connection = await asyncpg.connect(database_url)
    try:
        start: tuple[float, int, float, float] | None = None
        moved = (time.perf_counter(), -1)  # when the checkpoint last changed, and to what
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the {label} listener exited: see {log.name}")
            locked, block, events = await _progress(connection)
            now = time.perf_counter()
            if block != moved[1]:
                moved = (now, block)
            elif now - moved[0] > stall:
                tail = (await asyncio.to_thread(Path(log.name).read_text))[-1500:]
                raise RuntimeError(f"the {label} listener is stuck at block {block}:\n{tail}")
            if locked and start is None:
                cpu = child.cpu_times()
                start = (now, events, cpu.user + cpu.system, tree_cpu(pg_pid))
            if block >= head:
                break
            await asyncio.sleep(0.02)
        assert start is not None, "the listener committed before its lock was seen"
        cpu = child.cpu_times()
        listener_cpu, pg_cpu = cpu.user + cpu.system - start[2], tree_cpu(pg_pid) - start[3]
        peak = _peak_rss_mb(process.pid)
    finally:
        await connection.close()
        process.terminate()
        await process.wait()
        log.close()
    seconds, counted = now - start[0], events - start[1]
    if work is not None:  # over the listener's whole life, as its events are
        work = await pg_work.finish(database_url, work, events)
    return {
        "run": label,
        "events": counted,
        "seconds": round(seconds, 2),
        "events_per_s": round(counted / seconds),
        "listener_us_per_event": round(listener_cpu * 1e6 / counted, 1),
        "postgres_us_per_event": None if pg_pid is None else round(pg_cpu * 1e6 / counted, 1),
        "peak_rss_mb": round(peak),
        "load_average": round(os.getloadavg()[0], 2),
        **await _outcome(database_url),
        "pg_work": work,
    }


def compare(stack: Stack, addresses: dict[str, str], args: argparse.Namespace) -> None:
    """`dpo listener` processes of ours (and REF's) code, alternating by round."""
    head = asyncio.run(chain_head(stack.rpc_url))
    if args.pg_work:
        pg_work.prepare_server(stack)
    tree = checkout(args.compare, stack.scratch / "previous") if args.compare else None
    sides: list[tuple[str, Path | None]] = [("ours", None)]
    if tree is not None:
        sides.append(("previous", tree))
    try:
        results = [
            asyncio.run(
                backfill(
                    label, code, stack, addresses, head, args.investments, count_work=args.pg_work
                )
            )
            for round_ in range(args.rounds)
            for label, code in (sides if round_ % 2 == 0 else sides[::-1])
        ]
    finally:
        if tree is not None:
            drop_checkout(tree)
    print_table(results)
    pg_work.print_work(results)
    for result in results:
        print("RESULT " + json.dumps({"bench": "ingest", "compare": args.compare, **result}))


async def chain_head(url: str) -> int:
    """The chain's newest block number."""
    chain = Chain(url)
    try:
        return int(await chain.call("eth_blockNumber"), 16)
    finally:
        await chain.http.aclose()


def print_table(results: list[dict[str, Any]]) -> None:
    """The process runs side by side."""
    print(
        f"{'run':<10} {'events':>9} {'seconds':>8} {'events/s':>9} {'listener us/ev':>15} "
        f"{'PG us/ev':>9} {'peak RSS':>9} {'stored':>9} {'issued':>8} {'messages':>9} {'load':>5}"
    )
    for r in results:
        pg = "-" if r["postgres_us_per_event"] is None else f"{r['postgres_us_per_event']:.1f}"
        print(
            f"{r['run']:<10} {r['events']:>9,} {r['seconds']:>8.2f} {r['events_per_s']:>9,} "
            f"{r['listener_us_per_event']:>15.1f} {pg:>9} {r['peak_rss_mb']:>9} "
            f"{r['stored']:>9,} {r['issued_orders']:>8,} {r['messages']:>9,} "
            f"{r['load_average']:>5.1f}"
        )

"""Ingest benchmark: N events emitted on anvil through the contracts, then backfilled.

Usage: .venv/bin/python bench/ingest.py [--events 100000] [--tx-per-block 200]
       [--batch-blocks 10] [--max-batch-blocks 25] [--concurrency 4] [--empty-blocks 0]
       [--header-batch 100] [--baseline-header-batch 1] [--no-investments]
       [--process] [--compare REF] [--rounds R] [--fresh-chain] [--chains DIR]

The database gets the token's offering and, unless `--no-investments`, a paid order per issue
(each Issued event then moves its order to issued and queues the investor's message).
`--process` backfills with the real `dpo listener` process at its defaults instead
(bench/ingest_process.py); `--compare REF` also runs REF's code in each of `--rounds` rounds,
on fresh databases, the two in alternating order, and prints both side by side.

Starts its own PostgreSQL and Redis in a scratch folder under .dpo/bench/ (removed afterwards)
unless DATABASE_URL / REDIS_URL are set (a fresh `dpo_bench_ingest` database is then created
on that server). The chain (the four contracts, issue → Transfer + Issued, every tenth
transaction a TradeReported with a string) is emitted once per size and kept as anvil's state
dump under .dpo/bench/chains/ (chain_cache.py; `--fresh-chain` emits anew): 500k events take
anvil minutes to emit and seconds to load. Then it runs the listener's own
backfill (RpcClient → Decoder → ingest_batch with projections) from block 0 to the head and
prints events/s, the peak RSS and RSS samples over time, the CPU per event of the listener,
PostgreSQL and anvil, and one `RESULT {json}` line per backfill.

`--baseline-header-batch N` also backfills with N headers per JSON-RPC batch (1: as before
batching), side by side, `--rounds` pairs in ABBA order; each backfill starts after a
CHECKPOINT. Ranges are capped at `--max-batch-blocks` (default 25 blocks, about 9,500 events).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from benchdb import checkpoint, fresh_database  # bench/ is the script's folder
from chain_cache import CACHE, cached_chain
from emitter import issues, seed
from ingest_process import compare
from measure import RssSampler, tree_cpu
from sqlalchemy import text
from stack import CHAIN_ID, Stack, bench_stack, pid_of

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.db.migrate import upgrade
from dpo.db.session import create_engine, session_factory
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.progress import Progress
from listener.rpc import RpcClient, verify_chain
from listener.service import freeze_heap
from listener.store import PgStore


async def backfill(
    rpc_url: str,
    database_url: str,
    redis_url: str,
    addresses: dict[str, str],
    args: argparse.Namespace,
    header_batch: int,
) -> dict[str, Any]:
    """The listener's backfill from block 0 to the head; its time and events."""
    from redis.asyncio import Redis

    engine = create_engine(database_url, pool_size=max(2, args.concurrency))
    redis = Redis.from_url(redis_url)
    rpc = RpcClient(urls=[rpc_url], timeout=60, header_batch=header_batch)
    decoder = Decoder(
        CHAIN_ID, {address: CONTRACT_ARTIFACTS[var] for var, address in addresses.items()}
    )
    config = FollowerConfig(
        chain_id=CHAIN_ID,
        concurrency=args.concurrency,
        batch_blocks=args.batch_blocks,
        max_batch_blocks=args.max_batch_blocks,
    )
    follower = Follower(
        rpc=rpc,
        store=PgStore(session_factory(engine), redis=redis),
        decoder=decoder,
        config=config,
        progress=Progress(every=5.0),
    )
    try:
        await verify_chain(rpc, CHAIN_ID)
        head = await rpc.block_number()
        await follower.resume()
        started = time.perf_counter()
        await follower.sync(head, head, asyncio.Event())
        seconds = time.perf_counter() - started
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    text("SELECT count(*) FROM chain_events WHERE NOT removed")
                )
            ).scalar_one()
    finally:
        await rpc.aclose()
        await redis.aclose()
        await engine.dispose()
    return {"head": head, "seconds": seconds, "stored": int(stored)}


def rpc_requests() -> dict[str, int]:
    """JSON-RPC requests the listener sent, by method (its Prometheus counter)."""
    from prometheus_client import REGISTRY

    counts: dict[str, int] = {}
    for metric in REGISTRY.collect():
        if metric.name == "dpo_listener_rpc_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["method"]] = int(sample.value)
    return counts


def measure(
    stack: Stack, addresses: dict[str, str], args: argparse.Namespace, header_batch: int, label: str
) -> dict[str, Any]:
    """One backfill of the emitted chain into a fresh database; its figures, printed too."""
    database_url = asyncio.run(fresh_database(stack.database_url, "dpo_bench_ingest"))
    upgrade(database_url)
    asyncio.run(seed(database_url, addresses["ISSUANCE_CONTRACT_ADDRESS"], args.investments))
    asyncio.run(checkpoint(stack.database_url))
    freeze_heap()  # as `dpo listener` does before it starts following
    rss_before = psutil.Process().memory_info().rss
    cpu_before = psutil.Process().cpu_times()
    requests_before = rpc_requests()
    pg_pid, anvil_pid = pid_of(stack.postgres), pid_of(stack.anvil)
    pg_before, anvil_before = tree_cpu(pg_pid), tree_cpu(anvil_pid)
    sampler = RssSampler()
    sampler.start()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    figures = asyncio.run(
        backfill(stack.rpc_url, database_url, stack.redis_url, addresses, args, header_batch)
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    sampler.halt.set()
    sampler.join()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_after = psutil.Process().cpu_times()
    cpu_seconds = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    pg_cpu = tree_cpu(pg_pid) - pg_before if pg_pid is not None else None
    anvil_cpu = tree_cpu(anvil_pid) - anvil_before
    rate = figures["stored"] / figures["seconds"]
    step = max(1, len(sampler.samples) // 10)
    profile = [(round(t, 1), round(rss / 2**20)) for t, rss in sampler.samples[::step]]
    requests = {
        method: count - requests_before.get(method, 0) for method, count in rpc_requests().items()
    }
    per_event = 1e6 / figures["stored"]
    print(
        f"[{label}, header batch {header_batch}] backfill: {figures['stored']:,} events in "
        f"{figures['head'] + 1:,} blocks in {figures['seconds']:.1f}s = {rate:,.0f} events/s"
    )
    print(
        f"CPU per event: listener {cpu_seconds * per_event:.0f} us, PostgreSQL "
        f"{'-' if pg_cpu is None else f'{pg_cpu * per_event:.0f}'} us, anvil "
        f"{anvil_cpu * per_event:.0f} us; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"RPC requests by method: {requests}")
    print(
        f"peak RSS {peak_kb / 1024:.0f} MB so far (before backfill {rss_before / 2**20:.0f} "
        f"MB); RSS over time (s, MB): {profile}",
        flush=True,
    )
    if figures["stored"] < args.events * 0.99:
        print(f"WARNING: {figures['stored']} events stored, {args.events} emitted", file=sys.stderr)
    return {
        "bench": "ingest",
        "run": label,
        "header_batch": header_batch,
        "events": figures["stored"],
        "blocks": figures["head"] + 1,
        "seconds": round(figures["seconds"], 2),
        "events_per_s": round(rate),
        "cpu_seconds": round(cpu_seconds, 2),
        "postgres_cpu_seconds": None if pg_cpu is None else round(pg_cpu, 2),
        "anvil_cpu_seconds": round(anvil_cpu, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_kb / 1024),
        "rss_before_backfill_mb": round(rss_before / 2**20),
        "rss_mb_samples": [mb for _, mb in profile],
        "concurrency": args.concurrency,
        "max_batch_blocks": args.max_batch_blocks,
        "tx_per_block": args.tx_per_block,
        "empty_blocks": args.empty_blocks,
        "rpc_requests": requests,
    }


def side_by_side(results: list[dict[str, Any]]) -> None:
    """The runs of one chain in one table (the baseline first)."""
    print(
        f"{'run':<10} {'header batch':>12} {'events':>9} {'blocks':>7} {'seconds':>8} "
        f"{'events/s':>9} {'HTTP for headers':>16} {'headers':>8} {'CPU s':>6} {'load':>5}"
    )
    for r in results:
        requests = r["rpc_requests"]
        headers = requests.get("eth_getBlockByNumber", 0)
        http = requests.get("batch", 0) + (headers if r["header_batch"] <= 1 else 0)
        print(
            f"{r['run']:<10} {r['header_batch']:>12} {r['events']:>9,} {r['blocks']:>7,} "
            f"{r['seconds']:>8.2f} {r['events_per_s']:>9,} {http:>16,} {headers:>8,} "
            f"{r['cpu_seconds']:>6.2f} {r['load_average']:>5.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tx-per-block", type=int, default=200)
    parser.add_argument("--batch-blocks", type=int, default=10)
    parser.add_argument("--max-batch-blocks", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--empty-blocks",
        type=int,
        default=0,
        help="empty blocks before each block of events (a sparse chain)",
    )
    parser.add_argument(
        "--header-batch",
        type=int,
        default=100,
        help="headers per JSON-RPC batch request (LISTENER_HEADER_BATCH)",
    )
    parser.add_argument(
        "--baseline-header-batch",
        type=int,
        default=0,
        help="first backfill the same chain with this header batch (1: one "
        "request per header, as before batching) and print both",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="backfills of each kind, alternating (the load changes over time)",
    )
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the backfill here")
    parser.add_argument("--no-investments", action="store_true", help="seed no paid orders")
    parser.add_argument("--process", action="store_true", help="backfill with `dpo listener`")
    parser.add_argument(
        "--pg-work",
        action="store_true",
        help="with --process: count PostgreSQL's work per event (WAL, rows, statements)",
    )
    parser.add_argument("--fresh-chain", action="store_true", help="emit the chain anew")
    parser.add_argument("--chains", type=Path, default=Path(os.environ.get("BENCH_CHAINS", CACHE)))
    parser.add_argument("--compare", help="also backfill with this commit's `dpo listener`")
    args = parser.parse_args()
    args.investments = 0 if args.no_investments else issues(args.events)

    with (
        bench_stack("ingest", anvil=False) as stack,
        cached_chain(
            args.events,
            args.tx_per_block,
            args.chains,
            fresh=args.fresh_chain,
            empty_blocks=args.empty_blocks,
        ) as chain,
    ):
        # The cached chain's anvil stands in for the stack's (stopped by cached_chain).
        stack.rpc_url, stack.anvil = chain.rpc_url, chain.anvil
        addresses, emit_seconds = chain.addresses, chain.emit_seconds
        if args.process or args.compare:
            compare(stack, addresses, args)
            return
        runs = [("baseline", args.baseline_header_batch)] if args.baseline_header_batch else []
        runs.append(("current", args.header_batch))
        # Alternating order (ABBA...): a drift over the runs weighs on both kinds alike.
        results = [
            measure(stack, addresses, args, size, label)
            for round_ in range(args.rounds)
            for label, size in (runs if round_ % 2 == 0 else runs[::-1])
        ]
        side_by_side(results)
        for result in results:
            print("RESULT " + json.dumps({**result, "emit_seconds": round(emit_seconds, 2)}))


if __name__ == "__main__":
    main()

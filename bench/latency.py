"""Tx mined -> subscriber frame: the real `dpo listener` and `dpo web`, newHeads and polling.

Usage: .venv/bin/python bench/latency.py [--subscribers 1,1000] [--modes ws,http]
       [--interval 1.0] [--rounds 4] [--blocks 15] [--compare REF]

PostgreSQL, Redis and anvil (bench/stack.py), the contracts deployed, then per side (ours;
with `--compare REF` also REF's code, a detached worktree, bench/previous.py) a `dpo web` and
a `dpo listener` on a database and Redis channel prefix of their own. For each subscriber
count, that many `events` subscribers per side (bench/wsload.py, a process per side); per mode the
listeners follow anvil over `ws://` (newHeads) or `http://` polling every `--interval` s.
Rounds alternate the sides: the measured side runs while the other is frozen (SIGSTOP), so
neither meets the other's work; it catches up before its own round.

A round sends `--blocks` transactions one at a time, each mined at once into its own block
with one event (`verifyInvestor`: InvestorVerified), spaced 150-250 ms (ws) or a random
0.5-1.5 intervals (http, so sends fall at random phases of the poll). End-to-end is measured
per frame from just before `eth_sendTransaction` (anvil mines within the call, so this
includes anvil's mining) to the frame's arrival at each subscriber. The stages come from the
processes' own histograms (docs/LISTENER.md, "Latency at the tip"), scraped around each round
and merged, quantiles interpolated within buckets: logs fetched, committed, published
(listener) and frame written (web, every subscriber's frame), each from the moment the listener
saw the head; "-" for code without them. Prints p50/p99 per side, mode and count, the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchdb import fresh_database  # noqa: E402 - bench/ is the script's folder
from billbitts import wait_up  # noqa: E402
from emitter import VERIFY, Chain, tx, word  # noqa: E402
from latency_parts import (  # noqa: E402
    STAGES,
    SUBSCRIBE,
    Buckets,
    Side,
    blocks_of,
    caught_up,
    listening,
    minus,
    pct,
    plus,
    quantile,
    scrape,
    wait_metric,
)
from previous import checkout, drop_checkout  # noqa: E402
from stack import bench_stack  # noqa: E402
from wsload import subscriber_process  # noqa: E402

from dpo.auth.principal import Kind, Principal  # noqa: E402
from dpo.auth.tokens import create_access_token  # noqa: E402
from dpo.chain.deploy import deploy_all  # noqa: E402
from dpo.embedded.anvil import DEV_PRIVATE_KEY  # noqa: E402
from dpo.embedded.process import free_port  # noqa: E402
from dpo.settings import Settings  # noqa: E402

SECRET = "bench-latency-secret-" + "x" * 32
DEV = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"


async def send_round(
    chain: Chain, issuance: str, blocks: int, gap: tuple[float, float], nonce: int, n0: int
) -> dict[int, float]:
    """`blocks` transactions of one event each; block number -> time just before the send."""
    sent: dict[int, float] = {}
    rng = random.Random(n0)  # noqa: S311 - timing jitter, not cryptography
    # Automine and no other sender: each transaction is the next block.
    first = int(await chain.call("eth_blockNumber"), 16) + 1
    for n in range(blocks):
        await asyncio.sleep(rng.uniform(*gap))
        started = time.time()
        await chain.batch([tx(issuance, "0x" + VERIFY + word(0xB0000000 + n0 + n), nonce + n)])
        sent[first + n] = started
    return sent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(s) for s in args.subscribers.split(",")]
    modes = args.modes.split(",")
    results: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("spawn")
    with bench_stack("latency") as stack:
        addresses = await deploy_all(stack.rpc_url, DEV_PRIVATE_KEY)
        chain = Chain(stack.rpc_url)
        await chain.call("evm_setAutomine", [True])
        issuance = addresses["ISSUANCE_CONTRACT_ADDRESS"].lower()
        tree = checkout(args.compare, stack.scratch / "previous") if args.compare else None
        sides: list[Side] = []
        try:
            for name, code in [("ours", None)] + ([("previous", tree)] if tree else []):
                database = await fresh_database(stack.database_url, f"dpo_bench_latency_{name}")
                cap = str(max(counts) + 100)
                env = {
                    **{k: v for k, v in os.environ.items() if k not in ("BLOCKCHAIN_RPC_URL",)},
                    **addresses,
                    "DATABASE_URL": database,
                    "REDIS_URL": stack.redis_url,
                    "REDIS_CHANNEL_PREFIX": f"bench{name}",
                    "WS_CAPS_NAMESPACE": f"bench:{name}:caps",
                    "DJANGO_SECRET_KEY": SECRET,
                    "BLOCKCHAIN_NETWORK": "anvil",
                    "START_BLOCK_NUMBER": "0",
                    "LOG_LEVEL": "WARNING",
                    "WS_MAX_CONNECTIONS_PER_USER": cap,
                    "WS_MAX_CONNECTIONS_PER_ADDRESS": cap,
                    "SLOW_CONSUMER_SECONDS": "600",
                    "RATE_LIMIT_ANON": "100000000/min",
                    "RATE_LIMIT_USER": "100000000/min",
                }
                if args.web_workers:  # else `dpo web`'s default: one worker per core
                    env["WEB_CONCURRENCY"] = str(args.web_workers)
                side = Side(name, code, env, stack.scratch, free_port(), free_port())
                side.start_web()
                sides.append(side)
            for side in sides:
                await wait_up(side.base)
                # The deployment's events are stored before anyone subscribes.
                side.start_listener(stack.rpc_url, 0.2)
                await caught_up(side, chain, within=180)
                side.stop_listener()
            token = create_access_token(
                Principal(kind=Kind.STAFF, role="admin", user_id=1),
                settings=Settings(DJANGO_SECRET_KEY=SECRET),
            ).token
            nonce = int(await chain.call("eth_getTransactionCount", [DEV, "pending"]), 16)
            n0 = 0
            for count in counts:
                expect = len(modes) * args.rounds * len(sides) * args.blocks
                ready, out = ctx.Queue(), ctx.Queue()
                workers = []
                # Every frame arrives in time unless something is lost: then this ends the wait.
                per_round = args.blocks * (0.2 + args.interval) / 2 + 8
                until = time.time() + 120 + 2 * len(modes) * args.rounds * len(sides) * per_round
                for side in sides:
                    worker = ctx.Process(
                        target=subscriber_process,
                        args=(side.base, token, SUBSCRIBE, count, expect, ready, out, until),
                    )
                    worker.start()
                    workers.append(worker)
                for _ in sides:
                    ready.get(timeout=600)
                for side in sides:
                    await wait_metric(side.base, "dpo_feed_subscriptions", count)
                sent: dict[str, dict[int, tuple[str, float]]] = {}
                stages: dict[tuple[str, str], Buckets] = {}
                loads: list[float] = []
                for mode in modes:
                    state = (nonce, n0, sent, stages, loads)
                    nonce, n0 = await measure_mode(
                        args, stack.rpc_url, chain, issuance, sides, mode, *state
                    )
                for _ in sides:
                    base, received, _ = out.get(timeout=until - time.time() + 120)
                    next(s for s in sides if s.base == base).received = received
                for worker in workers:
                    worker.join(60)
                results += await figures(sides, sent, stages, count, modes, loads)
        finally:
            for side in sides:
                side.stop()
            await chain.http.aclose()
            if tree is not None:
                drop_checkout(tree)
    return {"interval": args.interval, "compare": args.compare, "results": results}


async def measure_mode(
    args: argparse.Namespace,
    rpc_url: str,
    chain: Chain,
    issuance: str,
    sides: list[Side],
    mode: str,
    nonce: int,
    n0: int,
    sent: dict[str, dict[int, tuple[str, float]]],
    stages: dict[tuple[str, str], Buckets],
    loads: list[float],
) -> tuple[int, int]:
    """The rounds of one mode, sides alternating; returns the next nonce and reference."""
    url = rpc_url.replace("http://", "ws://") if mode == "ws" else rpc_url
    for side in sides:
        side.start_listener(url, args.interval if mode == "http" else 1.0)
    for side in sides:
        await listening(side, chain)
    interval = args.interval
    gap = (0.15, 0.25) if mode == "ws" else (0.5 * interval, 1.5 * interval)
    for r in range(args.rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            for other in sides:
                (other.resume if other is side else other.pause)()
            await caught_up(side, chain)
            before = {k: await scrape(side.url(k)) for k in ("listener", "web")}
            loads.append(os.getloadavg()[0])
            cpu = side.cpu_seconds()
            times = await send_round(chain, issuance, args.blocks, gap, nonce, n0)
            nonce, n0 = nonce + args.blocks, n0 + args.blocks
            await caught_up(side, chain)
            await asyncio.sleep(1.0)
            side.count_cpu(mode, cpu, args.blocks)
            for kind in ("listener", "web"):
                delta = minus(await scrape(side.url(kind)), before[kind])
                stages[side.name, mode] = plus(stages.get((side.name, mode), {}), delta)
            sent.setdefault(side.name, {}).update({b: (mode, t) for b, t in times.items()})
    for side in sides:
        side.resume()
        await caught_up(side, chain)
        side.stop_listener()
    return nonce, n0


async def figures(
    sides: list[Side],
    sent: dict[str, dict[int, tuple[str, float]]],
    stages: dict[tuple[str, str], Buckets],
    count: int,
    modes: list[str],
    loads: list[float],
) -> list[dict[str, Any]]:
    """p50/p99 of end-to-end and of every stage per side and mode."""
    rows = []
    for mode in modes:
        for side in sides:
            blocks = await blocks_of(side.env["DATABASE_URL"])
            mine = sent.get(side.name, {})
            e2e = [
                at - mine[blocks[cursor]][1]
                for cursor, at in side.received
                if cursor in blocks and mine.get(blocks[cursor], ("",))[0] == mode
            ]
            row: dict[str, Any] = {
                "subscribers": count,
                "mode": mode,
                "side": side.name,
                "frames": len(e2e),
                "events": sum(1 for b in blocks.values() if mine.get(b, ("",))[0] == mode),
                "sent": sum(1 for m, _ in mine.values() if m == mode),
                "load": round(sum(loads) / len(loads), 1) if loads else None,
            }
            listener_s, web_s, blocks_sent = side.cpu.get(mode, [0.0, 0.0, 0])
            row["listener_cpu_ms_per_block"] = round(listener_s * 1000 / max(1, blocks_sent), 2)
            row["web_cpu_us_per_frame"] = round(web_s * 1e6 / max(1, blocks_sent * count), 1)
            for q, tag in ((0.5, "p50"), (0.99, "p99")):
                value = pct(e2e, q)
                row[f"e2e_{tag}_ms"] = None if value is None else round(value * 1000, 1)
                for stage in STAGES:
                    got = quantile(stages.get((side.name, mode), {}).get(stage, {}), q)
                    row[f"{stage}_{tag}_ms"] = None if got is None else round(got * 1000, 1)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", default="1,1000")
    parser.add_argument("--modes", default="ws,http")
    parser.add_argument("--interval", type=float, default=1.0, help="HTTP polling period, s")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=15, help="transactions per round")
    parser.add_argument("--compare", help="also run this commit's listener and web")
    parser.add_argument("--web-workers", type=int, default=0, help="0: dpo web's default")
    args = parser.parse_args()
    if args.interval <= 0 or args.rounds < 1 or args.blocks < 1 or args.web_workers < 0:
        parser.error("--interval, --rounds and --blocks must be positive")
    result = asyncio.run(run(args))
    columns = ["e2e", *STAGES]
    print(
        f"{'subs':>5} {'mode':>4} {'side':>8} {'frames':>7} {'load':>5} "
        + " ".join(f"{c + ' p50/p99 ms':>24}" for c in columns)
        + " listener CPU ms/block, web CPU us/frame"
    )
    for row in result["results"]:
        print(
            f"{row['subscribers']:>5} {row['mode']:>4} {row['side']:>8} {row['frames']:>7} "
            f"{row['load'] or '-':>5} "
            + " ".join(
                f"{row[c + '_p50_ms'] or '-'} / {row[c + '_p99_ms'] or '-'}".rjust(24)
                for c in columns
            )
            + f" {row['listener_cpu_ms_per_block']:>8} {row['web_cpu_us_per_frame']:>8}"
        )
    print("RESULT " + json.dumps({"bench": "latency", **result}))


if __name__ == "__main__":
    main()

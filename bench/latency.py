"""Tx mined -> subscriber frame: the real `dpo listener` and `dpo web`, newHeads and polling.

Usage: .venv/bin/python bench/latency.py [--subscribers 1,1000] [--modes ws,http]
       [--interval 1.0] [--rounds 4] [--blocks 50] [--compare REF]

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
saw the head; "-" for code without them. The bench also subscribes to anvil's newHeads and to
each side's doorbell itself and splits every frame's time before and after the listener saw
its head (bench/latency_trace.py: mined, pushed, seen, to_frame). Prints p50/p99 per side, mode
and count, which slowest sample the p99 is and how many samples each column has, the load.

The defaults, 4 rounds of 50 blocks, give 200 frames per side, mode and subscriber count, so
the p99 is the second slowest of 200 rather than the slowest of a few dozen: about 40 s of
sending per side and count in ws mode, 200 s in http mode (a poll interval per block).
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
from latency_figures import figures, table  # noqa: E402
from latency_parts import (  # noqa: E402
    SUBSCRIBE,
    Buckets,
    Side,
    caught_up,
    listening,
    minus,
    plus,
    scrape,
    wait_metric,
)
from latency_trace import Timeline, tracing  # noqa: E402
from previous import checkout, drop_checkout  # noqa: E402
from stack import bench_stack  # noqa: E402
from wsload import subscriber_process  # noqa: E402

from dpo.auth.principal import Kind, Principal  # noqa: E402
from dpo.auth.tokens import create_access_token  # noqa: E402
from dpo.chain.deploy import deploy_all  # noqa: E402
from dpo.channels import channels_for  # noqa: E402
from dpo.embedded.anvil import DEV_PRIVATE_KEY  # noqa: E402
from dpo.embedded.process import free_port  # noqa: E402
from dpo.settings import Settings  # noqa: E402

SECRET = "bench-latency-secret-" + "x" * 32
DEV = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"


async def send_round(
    chain: Chain,
    issuance: str,
    blocks: int,
    gap: tuple[float, float],
    nonce: int,
    n0: int,
    timeline: Timeline,
) -> dict[int, float]:
    """`blocks` transactions of one event each; block number -> time just before the send.

    When each send was answered (the block mined) goes to `timeline.returned`.
    """
    sent: dict[int, float] = {}
    rng = random.Random(n0)  # noqa: S311 - timing jitter, not cryptography
    # Automine and no other sender: each transaction is the next block.
    first = int(await chain.call("eth_blockNumber"), 16) + 1
    for n in range(blocks):
        await asyncio.sleep(rng.uniform(*gap))
        started = time.time()
        await chain.batch([tx(issuance, "0x" + VERIFY + word(0xB0000000 + n0 + n), nonce + n)])
        sent[first + n] = started
        timeline.returned[first + n] = time.time()
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
                bells = {
                    channels_for(stack.redis_url, f"bench{x.name}").feed: x.name for x in sides
                }
                ws_url = stack.rpc_url.replace("http://", "ws://")
                async with tracing(ws_url, stack.redis_url, bells) as timeline:
                    for mode in modes:
                        state = (nonce, n0, sent, stages, loads, timeline)
                        nonce, n0 = await measure_mode(
                            args, stack.rpc_url, chain, issuance, sides, mode, *state
                        )
                for _ in sides:
                    base, received, _ = out.get(timeout=until - time.time() + 120)
                    next(s for s in sides if s.base == base).received = received
                for worker in workers:
                    worker.join(60)
                results += await figures(sides, sent, stages, timeline, count, modes, loads)
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
    timeline: Timeline,
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
            times = await send_round(chain, issuance, args.blocks, gap, nonce, n0, timeline)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", default="1,1000")
    parser.add_argument("--modes", default="ws,http")
    parser.add_argument("--interval", type=float, default=1.0, help="HTTP polling period, s")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=50, help="transactions per round")
    parser.add_argument("--compare", help="also run this commit's listener and web")
    parser.add_argument("--web-workers", type=int, default=0, help="0: dpo web's default")
    args = parser.parse_args()
    if args.interval <= 0 or args.rounds < 1 or args.blocks < 1 or args.web_workers < 0:
        parser.error("--interval, --rounds and --blocks must be positive")
    result = asyncio.run(run(args))
    print(table(result["results"]))
    print("RESULT " + json.dumps({"bench": "latency", **result}))


if __name__ == "__main__":
    main()

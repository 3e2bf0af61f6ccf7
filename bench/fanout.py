"""Fan-out benchmark: S WebSocket subscribers on one `dpo web` process, events at E/s.

Usage: .venv/bin/python bench/fanout.py [--subscribers 1000] [--rate 10] [--seconds 10]
       [--processes 2]          (--rate 0: one single event delivered to everyone)

Seeds a fresh `dpo_bench_fanout` database on the configured (or embedded) PostgreSQL, starts
`dpo web` (one uvicorn worker) as a separate process, connects the subscribers from separate
load-generator processes (graphql-transport-ws, `events` subscription, bench/wsload.py) and
waits until the server runs them all, measures the server's RSS before and after they
connect (memory per idle subscriber), then stores events through the listener's path
(ingest_batch, then the Redis doorbell) and measures the delivery latency from the commit to
the client's receipt. Prints p50/p99, frames/s, memory per subscriber, CPU per frame (server
and load generators), selection-set executions per event, frames the hub's fan-out wrote
itself (`dpo_feed_fanout_frames_total`), the load average and one `RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
from pathlib import Path

import httpx
import psutil
import redis.asyncio as aioredis
from benchdb import fresh_database  # bench/ is the script's folder
from sqlalchemy import text
from webserver import web_process  # bench/ is the script's folder
from wsload import subscriber_process

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.channels import channels_for
from dpo.db.migrate import upgrade
from dpo.db.session import create_engine, session_factory
from dpo.embedded.stack import ensure_services
from dpo.settings import Settings
from listener.decode import DecodedLog
from listener.publish import publish_feed
from listener.store import Batch, BlockHeader, ingest_batch

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-fanout-secret-" + "x" * 32
CHAIN = 31337
ISSUANCE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SUBSCRIBE = "subscription { events { cursor node { sequence eventName blockNumber args } } }"


async def seed(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO issuers (id, name) VALUES (1, 'Issuer')"))
        await connection.execute(
            text(
                "INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, "
                "regulation, currency, unit_price, token_address) VALUES (1, 1, 'DE000A1B2C35', "
                "'Bond', 'BND', 'debt', 'reg_s', 'EUR', 100, :t)"
            ),
            {"t": ISSUANCE},
        )
    await engine.dispose()


# ---- load generator (separate processes) ----


# ---- producer: the listener's path ----


async def produce(
    database_url: str, redis_url: str, *, rate: float, seconds: float
) -> dict[int, float]:
    engine = create_engine(database_url, pool_size=2)
    sessions = session_factory(engine)
    redis = aioredis.from_url(redis_url)
    committed: dict[int, float] = {}
    total = 1 if rate <= 0 else int(rate * seconds)
    interval = 0 if rate <= 0 else 1 / rate
    started = time.monotonic()
    for n in range(total):
        number = n + 1
        log = DecodedLog(
            chain_id=CHAIN,
            contract_address=ISSUANCE,
            contract_name="Issuance",
            event_name="Transfer",
            block_number=number,
            block_hash=f"0x{number:064x}",
            tx_hash=f"0x{number:064x}",
            tx_index=0,
            log_index=0,
            args={"from": "0x" + "0" * 40, "to": HOLDER, "value": "1"},
        )
        header = BlockHeader(number, f"0x{number:064x}", f"0x{number - 1:064x}", 1_700_000_000)
        result = await ingest_batch(
            sessions, Batch(CHAIN, number, number, [header], [log]), reorg_window=1000
        )
        if result.last_seq is not None:
            committed[result.last_seq] = time.time()
        await publish_feed(
            redis,
            channel=channels_for(redis_url).feed,
            chain_id=CHAIN,
            first_seq=result.first_seq,
            last_seq=result.last_seq,
        )
        await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.monotonic()))
    await redis.aclose()
    await engine.dispose()
    return committed


def _loadavg() -> float:
    return os.getloadavg()[0]


def _metric(base: str, name: str) -> float:
    """A sample of the web process's /metrics (0 when absent)."""
    for line in httpx.get(base + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="events/s; 0: one event")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()

    services = ensure_services(Settings())
    try:
        database_url = asyncio.run(fresh_database(services.database_url, "dpo_bench_fanout"))
        upgrade(database_url)
        asyncio.run(seed(database_url))
        cap = str(args.subscribers + 100)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": services.redis_url,
            "DJANGO_SECRET_KEY": SECRET,
            "LOG_LEVEL": "WARNING",
            "WS_MAX_CONNECTIONS_PER_USER": cap,
            "WS_MAX_CONNECTIONS_PER_ADDRESS": cap,
            "SLOW_CONSUMER_SECONDS": "120",
            "RATE_LIMIT_ANON": "100000000/min",
            "RATE_LIMIT_USER": "100000000/min",
        }
        settings = Settings(DJANGO_SECRET_KEY=SECRET)
        token = create_access_token(
            Principal(kind=Kind.STAFF, role="admin", user_id=1), settings=settings
        ).token
        with web_process(env, stop_timeout=30) as (server, base):
            process = psutil.Process(server.pid)
            # One subscriber first, so the hub and the schema are warm before the baseline.
            ctx = multiprocessing.get_context("spawn")
            warm_ready, warm_results, release = ctx.Queue(), ctx.Queue(), ctx.Event()
            warm = ctx.Process(
                target=subscriber_process,
                args=(base, token, SUBSCRIBE, 1, 1, warm_ready, warm_results, time.time() + 15),
                kwargs={"release": release},
            )
            warm.start()
            warm_ready.get(timeout=60)
            time.sleep(1)
            rss_before = process.memory_info().rss
            expect = 1 if args.rate <= 0 else int(args.rate * args.seconds)
            ready, results = ctx.Queue(), ctx.Queue()
            per = [
                args.subscribers // args.processes
                + (1 if i < args.subscribers % args.processes else 0)
                for i in range(args.processes)
            ]
            until = time.time() + 600
            workers = [
                ctx.Process(
                    target=subscriber_process,
                    args=(base, token, SUBSCRIBE, n, expect, ready, results, until),
                    kwargs={"release": release},
                )
                for n in per
                if n
            ]
            for worker in workers:
                worker.start()
            connected = sum(ready.get(timeout=600) for _ in workers)
            # The clients sent their subscribe messages; wait until the server runs them all.
            wait_until = time.monotonic() + 300
            while (
                _metric(base, "dpo_feed_subscriptions") < connected
                and time.monotonic() < wait_until
            ):
                time.sleep(0.5)
            time.sleep(1)
            rss_after = process.memory_info().rss
            load_before = _loadavg()
            cpu_before = sum(process.cpu_times()[:2])
            committed = asyncio.run(
                produce(database_url, services.redis_url, rate=args.rate, seconds=args.seconds)
            )
            frames: list[tuple[int, float]] = []
            client_cpu = 0.0
            for _ in workers:
                _, received, cpu = results.get(timeout=600)
                frames += received
                client_cpu += cpu
            server_cpu = sum(process.cpu_times()[:2]) - cpu_before
            executions = _metric(base, "dpo_feed_frame_executions_total")
            fanned = _metric(base, "dpo_feed_fanout_frames_total")
            load_after = _loadavg()
            release.set()
            for worker in [*workers, warm]:
                worker.join(30)
        latencies = sorted(
            received - committed[cursor] for cursor, received in frames if cursor in committed
        )
        quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
        span = max(r for _, r in frames) - min(committed.values()) if frames else 0
        figures = {
            "subscribers": args.subscribers,
            "connected": connected,
            "rate": args.rate,
            "seconds": args.seconds,
            "events": len(committed),
            "frames": len(frames),
            "expected_frames": len(committed) * args.subscribers,
            "p50_ms": round(quantiles[49] * 1000, 1),
            "p99_ms": round(quantiles[98] * 1000, 1),
            "frames_per_s": round(len(frames) / span, 1) if span else 0,
            "kb_per_subscriber": round((rss_after - rss_before) / 1024 / args.subscribers, 1),
            # CPU per delivered frame: the web process while events flowed; the load
            # generators once all their subscribers were subscribed.
            "server_us_per_frame": round(server_cpu / len(frames) * 1e6, 1) if frames else 0,
            "client_us_per_frame": round(client_cpu / len(frames) * 1e6, 1) if frames else 0,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "executions_per_event": round(executions / len(committed), 2) if committed else 0,
            "fanout_share": round(fanned / len(frames), 3) if frames else 0,
        }
        print(
            f"{figures['connected']}/{figures['subscribers']} subscribers, "
            f"{len(committed)} events: "
            f"{figures['frames']}/{figures['expected_frames']} frames, "
            f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
            f"{figures['frames_per_s']} frames/s, "
            f"{figures['kb_per_subscriber']} KB per idle subscriber; CPU per frame: "
            f"server {figures['server_us_per_frame']} us, "
            f"load generators {figures['client_us_per_frame']} us; "
            f"{figures['executions_per_event']} executions/event, {fanned:.0f} fanned out; "
            f"load average {load_before} -> {load_after}"
        )
        print("RESULT " + json.dumps({"bench": "fanout", **figures}))
    finally:
        services.stop()


if __name__ == "__main__":
    main()

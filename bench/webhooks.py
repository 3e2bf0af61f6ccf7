"""Webhook answer time: a burst of signed `payment.paid` deliveries against one `dpo web`.

Usage: .venv/bin/python bench/webhooks.py [--orders 200] [--rounds 2] [--compare REF]

Starts PostgreSQL and Redis in a scratch folder under .dpo/bench/, seeds an open offering, an
investor with an e-mail and N orders awaiting payment, and runs one `dpo web` process. The
script plays BillBitts: it signs each event with WEBHOOK_SECRET and POSTs it to
/webhooks/billbitts, every event twice at once (as providers retry), so a burst is 2N
requests. No listener or sender runs: this measures only the answer, which is what BillBitts
waits for (the chain work goes to the outbox).

The baseline, in the same run and against the same process: the same number of concurrent
`GET /api/health/` requests (the runbook's health path: a pool checkout, three small
queries and a Redis ping per request), measured right before each webhook burst, so both
see the same machine load. With `--compare REF` (a commit, e.g. the one before a change to
the webhook path), a second `dpo web` runs that commit's code (a detached git worktree in the
scratch folder) on the same database, and each round also sends it a burst of its own
orders, before or after ours by turns: the previous approach, side by side, in the same
run. Prints p50/p99 per round, the rows written per paid order and commits per request
(pg_stat_database),
checks that every order is paid with one delivery stored per event, and one `RESULT {json}`
line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from benchdb import fresh_database  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from billbitts import SECRET, delivery, pct, spawn, wait_up  # noqa: E402
from previous import checkout, drop_checkout  # noqa: E402
from sqlalchemy import text  # noqa: E402

from dpo.db.migrate import upgrade_async  # noqa: E402
from dpo.db.models import Investment, Investor, Issuer, Offering  # noqa: E402
from dpo.db.session import create_engine, session_factory  # noqa: E402
from dpo.embedded.postgres import EmbeddedPostgres  # noqa: E402
from dpo.embedded.process import free_port  # noqa: E402
from dpo.embedded.redis import EmbeddedRedis  # noqa: E402

SCRATCH = ROOT / ".dpo" / "bench" / "webhooks"


async def seed(sessions: Any, orders: int) -> list[str]:
    """An open offering with room, an investor with an e-mail, N orders awaiting payment."""
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        offering = Offering(
            issuer=Issuer(name="Acme AG", country="CH"),
            name="Acme 2030",
            symbol="ACME",
            security_type="equity",
            regulation="reg_s",
            currency="EUR",
            unit_price=Decimal(10),
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=20),
            status="open",
            allowed_countries=[],
        )
        investor = Investor(
            full_name="Ada", country="DE", kyc_status="approved", email="ada@example.com"
        )
        session.add_all([offering, investor])
        await session.flush()
        rows = [
            Investment(
                investor_id=investor.id,
                offering_id=offering.id,
                amount=Decimal(30),
                currency="EUR",
                units=3,
                payment_reference=f"DPO-W{n:05d}-{secrets.token_hex(2).upper()}",
            )
            for n in range(orders)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.payment_reference for row in rows]


async def timed(request: Any) -> float:
    started = time.monotonic()
    response = await request
    if response.status_code != 200:
        raise RuntimeError(f"answered {response.status_code}: {response.text[:200]}")
    return time.monotonic() - started


async def burst_health(client: httpx.AsyncClient, count: int) -> list[float]:
    return list(await asyncio.gather(*[timed(client.get("/api/health/")) for _ in range(count)]))


async def burst_webhooks(client: httpx.AsyncClient, references: list[str]) -> list[float]:
    signed = [delivery(reference) for reference in references]
    return list(
        await asyncio.gather(
            *[
                timed(client.post("/webhooks/billbitts", content=body, headers=headers))
                for body, headers in signed
                for _ in range(2)
            ]
        )
    )


async def counters(sessions: Any) -> tuple[int, int]:
    """Committed transactions and rows written in this database so far."""
    async with sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "logs").mkdir(parents=True)
    postgres = EmbeddedPostgres(SCRATCH / "pg", free_port(), durable=False)
    redis = EmbeddedRedis(SCRATCH / "redis", free_port())
    server = postgres.start()
    redis.start()
    children: list[subprocess.Popen[bytes]] = []
    tree = checkout(args.compare, SCRATCH / "previous") if args.compare else None
    engine = None
    rounds: list[dict[str, float]] = []
    webs = 2 if tree else 1
    try:
        database_url = await fresh_database(server, "dpo_bench_webhooks")
        await upgrade_async(database_url)
        engine = create_engine(database_url, pool_size=2)
        sessions = session_factory(engine)
        references = await seed(sessions, args.orders * args.rounds * webs)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "WEBHOOK_SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ANON": "1000000/min",
        }
        ports = [free_port() for _ in range(webs)]
        children.append(spawn(["web", "--port", str(ports[0])], env, SCRATCH / "logs"))
        if tree is not None:
            children.append(
                spawn(
                    ["web", "--port", str(ports[1])],
                    env,
                    SCRATCH / "logs",
                    name="previous",
                    tree=tree,
                )
            )
        limits = httpx.Limits(max_connections=args.orders * 2 + 10)
        clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300, limits=limits)
            for port in ports
        ]
        try:
            for client in clients:
                await wait_up(str(client.base_url))
                await burst_health(client, 20)  # warm: connections, imports, caches
            for n in range(args.rounds):
                batch = references[n * args.orders * webs : (n + 1) * args.orders * webs]
                figures: dict[str, float] = {"load": os.getloadavg()[0]}
                health = await burst_health(clients[0], 2 * args.orders)
                # Which code goes first alternates, so neither always meets the other's tail.
                order = [0, 1] if n % 2 == 0 else [1, 0]
                for which in (w for w in order if w < len(clients)):
                    before = await counters(sessions)
                    part = batch[which * args.orders : (which + 1) * args.orders]
                    hooks = await burst_webhooks(clients[which], part)
                    after = await counters(sessions)
                    name = "webhook" if which == 0 else "previous"
                    figures |= {
                        f"{name}_p50_s": pct(hooks, 0.5),
                        f"{name}_p99_s": pct(hooks, 0.99),
                        f"{name}_rows_per_paid": (after[1] - before[1]) / args.orders,
                        f"{name}_commits_per_request": (after[0] - before[0]) / (2 * args.orders),
                    }
                figures |= {"health_p50_s": pct(health, 0.5), "health_p99_s": pct(health, 0.99)}
                rounds.append(figures)
        finally:
            for client in clients:
                await client.aclose()
        async with sessions() as session:
            paid = int(
                await session.scalar(text("SELECT count(*) FROM investments WHERE state = 'paid'"))
                or 0
            )
            stored = int(await session.scalar(text("SELECT count(*) FROM webhook_deliveries")) or 0)
            intents = int(await session.scalar(text("SELECT count(*) FROM chain_intents")) or 0)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        if engine is not None:
            await engine.dispose()
        if tree is not None:
            drop_checkout(tree)
        redis.stop()
        postgres.stop()
    return {
        "orders": args.orders,
        "compare": args.compare,
        "rounds": rounds,
        "paid": paid,
        "deliveries": stored,
        "intents": intents,
        "expected": args.orders * args.rounds * webs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", help="also run this commit's `dpo web` (previous code)")
    result = asyncio.run(run(parser.parse_args()))
    n = result["orders"]
    print(
        f"per round: {n} paid events, each delivered twice at once ({2 * n} requests), "
        f"after {2 * n} concurrent health requests (the baseline)"
        + (f"; then the same burst to {result['compare']}'s code" if result["compare"] else "")
    )
    print(
        f"{'round':>5}{'load':>6}{'health p50':>11}{'p99':>7}{'webhook p50':>12}{'p99':>7}"
        f"{'previous p50':>13}{'p99':>7}{'rows/paid':>10}{'(prev)':>7}"
        f"{'commits/req':>12}{'(prev)':>7}"
    )
    nan = float("nan")
    for i, r in enumerate(result["rounds"], 1):
        print(
            f"{i:>5}{r['load']:>6.1f}{r['health_p50_s']:>11.2f}{r['health_p99_s']:>7.2f}"
            f"{r['webhook_p50_s']:>12.2f}{r['webhook_p99_s']:>7.2f}"
            f"{r.get('previous_p50_s', nan):>13.2f}{r.get('previous_p99_s', nan):>7.2f}"
            f"{r['webhook_rows_per_paid']:>10.1f}{r.get('previous_rows_per_paid', nan):>7.1f}"
            f"{r['webhook_commits_per_request']:>12.2f}"
            f"{r.get('previous_commits_per_request', nan):>7.2f}"
        )
    expected = result["expected"]
    print(
        f"exactly once: {result['paid']}/{expected} orders paid, {result['deliveries']} "
        f"deliveries stored for {expected} events ({2 * expected} sent), "
        f"{result['intents']} chain intents (2 per order)"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

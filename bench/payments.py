"""Payments benchmark: N orders paid in one burst, webhook to issued, every piece real.

Usage: .venv/bin/python bench/payments.py [--orders 200]

Starts PostgreSQL, Redis and anvil in a scratch folder under .dpo/bench/, deploys the
contracts, makes anvil's second account an agent (the platform wallet), opens on-chain
offering 1 and verifies an investor; then runs `dpo web`, `dpo listener` and `dpo sender` as
processes. The script plays BillBitts: it signs `payment.paid` events with WEBHOOK_SECRET
and POSTs them to /webhooks/billbitts.

- baseline: one order paid alone (nothing else in flight): its webhook -> issued time;
- burst: N orders paid at once (N concurrent deliveries, each sent twice, as providers do).

"issued" is when the order's state is first seen `issued` in PostgreSQL (polled every 50 ms),
which the listener sets from the chain's Issued event. Prints the webhook answer time and the
webhook -> issued time (p50/p99) of both side by side, issuances per second in the burst, and
checks exactly-once: one Issued event per order on chain, one stored delivery per event, every
order issued. One `RESULT {json}` line.
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
from sqlalchemy import text  # noqa: E402

from dpo.chain.deploy import deploy_all  # noqa: E402
from dpo.db.migrate import upgrade_async  # noqa: E402
from dpo.db.models import Investment, Investor, InvestorWallet, Issuer, Offering  # noqa: E402
from dpo.db.session import create_engine, session_factory  # noqa: E402
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil  # noqa: E402
from dpo.embedded.postgres import EmbeddedPostgres  # noqa: E402
from dpo.embedded.process import free_port  # noqa: E402
from dpo.embedded.redis import EmbeddedRedis  # noqa: E402
from tests.integration.sender.world import SENDER_KEY, issued_refs, prepare_chain  # noqa: E402

SCRATCH = ROOT / ".dpo" / "bench" / "payments"


async def seed(sessions: Any, world: Any, orders: int) -> list[tuple[int, str]]:
    """The linked offering, an investor with the verified wallet, N orders awaiting payment."""
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
            onchain_offering_id=world.offering_id,
            token_address=world.issuance.lower(),
        )
        investor = Investor(
            full_name="Ada", country="DE", kyc_status="approved", email="ada@example.com"
        )
        session.add_all([offering, investor])
        await session.flush()
        session.add(
            InvestorWallet(
                investor_id=investor.id,
                chain_id=31337,
                verified_at=now,
                address=world.investors[0].lower(),
            )
        )
        rows = [
            Investment(
                investor_id=investor.id,
                offering_id=offering.id,
                amount=Decimal(30),
                currency="EUR",
                units=3,
                payment_reference=f"DPO-B{n:04d}-{secrets.token_hex(2).upper()}",
            )
            for n in range(orders)
        ]
        session.add_all(rows)
        await session.flush()
        return [(row.id, row.payment_reference) for row in rows]


async def pay(client: httpx.AsyncClient, reference: str, copies: int) -> float:
    """Deliver `payment.paid` (copies of one event); returns when the first was sent."""
    body, headers = delivery(reference)
    sent = time.monotonic()
    answers = await asyncio.gather(
        *[client.post("/webhooks/billbitts", content=body, headers=headers) for _ in range(copies)]
    )
    if any(a.status_code != 200 for a in answers):
        raise RuntimeError(f"webhook refused: {[a.status_code for a in answers]}")
    return sent


async def watch(sessions: Any, ids: list[int], seconds: float = 900) -> dict[int, float]:
    """When each order is first seen issued."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + seconds
    while len(seen) < len(ids) and time.monotonic() < deadline:
        async with sessions() as session:
            issued = (
                await session.scalars(
                    text("SELECT id FROM investments WHERE state = 'issued' AND id = ANY(:ids)"),
                    {"ids": ids},
                )
            ).all()
        now = time.monotonic()
        for investment_id in issued:
            seen.setdefault(int(investment_id), now)
        await asyncio.sleep(0.05)
    return seen


async def run(args: argparse.Namespace) -> dict[str, Any]:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "logs").mkdir(parents=True)
    postgres = EmbeddedPostgres(SCRATCH / "pg", free_port(), durable=False)
    redis = EmbeddedRedis(SCRATCH / "redis", free_port())
    anvil = EmbeddedAnvil(SCRATCH / "anvil", free_port(), persist=False)
    server, chain = postgres.start(), anvil.start()
    redis.start()
    children: list[subprocess.Popen[bytes]] = []
    engine = None
    try:
        database_url = await fresh_database(server, "dpo_bench_payments")
        await upgrade_async(database_url)
        addresses = await deploy_all(chain, DEV_PRIVATE_KEY, wait_seconds=120)
        world = prepare_chain(chain, addresses)
        engine = create_engine(database_url, pool_size=4)
        sessions = session_factory(engine)
        orders = await seed(sessions, world, args.orders + 1)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "BLOCKCHAIN_RPC_URL": chain,
            "BLOCKCHAIN_NETWORK": "anvil",
            "WALLET_PRIVATE_KEY": SENDER_KEY,
            "WEBHOOK_SECRET": SECRET,
            "LISTENER_POLL_INTERVAL": "0.1",
            "SENDER_POLL_INTERVAL": "0.1",
            "SENDER_MAX_IN_FLIGHT": str(max(64, 2 * args.orders)),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ANON": "1000000/min",
            **addresses,
        }
        children = [
            spawn(["web", "--port", str(port)], env, SCRATCH / "logs"),
            spawn(["listener"], env, SCRATCH / "logs", name="listener"),
            spawn(["sender"], env, SCRATCH / "logs", name="sender"),
        ]
        base = f"http://127.0.0.1:{port}"
        await wait_up(base)
        limits = httpx.Limits(max_connections=args.orders * 2)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            alone_id, alone_ref = orders[0]
            start = await pay(client, alone_ref, 1)
            alone_answer = time.monotonic() - start
            alone = await watch(sessions, [alone_id])
            burst = orders[1:]
            sent: dict[int, float] = {}
            answered: dict[int, float] = {}

            async def one(investment_id: int, reference: str) -> None:
                sent[investment_id] = await pay(client, reference, 2)
                answered[investment_id] = time.monotonic()

            async def deliver_all() -> None:
                await asyncio.gather(*[one(i, r) for i, r in burst])

            started = time.monotonic()
            seen, _ = await asyncio.gather(watch(sessions, [i for i, _ in burst]), deliver_all())
        async with sessions() as session:
            deliveries = int(
                await session.scalar(text("SELECT count(*) FROM webhook_deliveries")) or 0
            )
            refs: dict[int, str | None] = {
                int(r[0]): r[1]
                for r in (
                    await session.execute(text("SELECT id, onchain_reference FROM investments"))
                ).all()
            }
            not_issued = int(
                await session.scalar(
                    text("SELECT count(*) FROM investments WHERE state <> 'issued'")
                )
                or 0
            )
        on_chain = issued_refs(chain, world.issuance)
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
        anvil.stop()
        redis.stop()
        postgres.stop()
    latencies = [seen[i] - sent[i] for i, _ in burst if i in seen]
    answers = [answered[i] - sent[i] for i, _ in burst]
    return {
        "orders": args.orders,
        "alone_answer_s": alone_answer,
        "alone_issued_s": alone[alone_id] - start if alone_id in alone else None,
        "burst_answer_p50_s": pct(answers, 0.5),
        "burst_answer_p99_s": pct(answers, 0.99),
        "burst_issued_p50_s": pct(latencies, 0.5) if latencies else None,
        "burst_issued_p99_s": pct(latencies, 0.99) if latencies else None,
        "burst_seconds": (max(seen.values()) - started) if seen else None,
        "issued": len(seen),
        "not_issued": not_issued,
        "deliveries": deliveries,
        "issuances_on_chain": sum(on_chain[ref] for ref in refs.values() if ref),
        "max_issuances_per_order": max((on_chain[ref] for ref in refs.values() if ref), default=0),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    result = asyncio.run(run(parser.parse_args()))
    n = result["orders"]
    print(f"orders in the burst: {n} (each delivered twice), plus one paid alone first")
    print(f"{'':34}{'alone':>12}{'burst p50':>12}{'burst p99':>12}")
    print(
        f"{'webhook answered (s)':34}{result['alone_answer_s']:12.3f}"
        f"{result['burst_answer_p50_s']:12.3f}{result['burst_answer_p99_s']:12.3f}"
    )
    print(
        f"{'webhook -> issued (s)':34}{result['alone_issued_s'] or float('nan'):12.2f}"
        f"{result['burst_issued_p50_s'] or float('nan'):12.2f}"
        f"{result['burst_issued_p99_s'] or float('nan'):12.2f}"
    )
    if result["burst_seconds"]:
        print(
            f"burst: {result['issued']}/{n} issued in {result['burst_seconds']:.1f} s = "
            f"{result['issued'] / result['burst_seconds']:.1f} issuances/s "
            f"({2 * result['issued'] / result['burst_seconds']:.1f} transactions/s)"
        )
    print(
        f"exactly once: {result['issuances_on_chain']} Issued events for {n + 1} orders, "
        f"at most {result['max_issuances_per_order']} per order; "
        f"{result['deliveries']} deliveries stored for {2 * n + 1} sent; "
        f"{result['not_issued']} not issued; load average {result['load']:.1f}"
    )
    print(
        "RESULT "
        + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()})
    )


if __name__ == "__main__":
    main()

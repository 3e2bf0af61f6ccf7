"""Sender benchmark: issuances per second on anvil, the sender against a naive baseline.

Usage: .venv/bin/python bench/sender.py [--orders 200] [--block-time 0] [--confirmations 0]

Starts PostgreSQL (or uses DATABASE_URL) and anvil in a scratch folder under .dpo/bench/,
deploys the contracts, makes anvil's second account an agent (the platform wallet), opens an
offering and verifies an investor. Then, on the same chain:

- baseline: the obvious loop of the deploy command: for each order, estimate, sign, send and
  wait for the receipt of STO.invest, then the same for Issuance.issue (one transaction in
  flight at a time);
- sender: N paid orders with their intents enqueued in one transaction, then the real
  Worker's passes (chain check, estimate, write-ahead signing, broadcast, receipts) until
  every intent succeeded.

Prints issuances/s and transactions/s of both side by side, the sender's p50/p99 time from
enqueue to the issue's success (confirmed: `--confirmations N` blocks on top, 0 by default), and
one `RESULT {json}` line. `--block-time S` mines a block every S seconds instead of one per
transaction (closer to a real chain; without it, N > 0 never confirms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from benchdb import fresh_database  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from sqlalchemy import select  # noqa: E402

from dpo.chain.deploy import deploy_all  # noqa: E402
from dpo.db.migrate import upgrade_async  # noqa: E402
from dpo.db.models import ChainIntent  # noqa: E402
from dpo.db.session import create_engine, session_factory  # noqa: E402
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil  # noqa: E402
from dpo.embedded.postgres import EmbeddedPostgres  # noqa: E402
from dpo.embedded.process import free_port  # noqa: E402
from dpo.sender.calls import Contracts  # noqa: E402
from dpo.sender.verdicts import Order  # noqa: E402
from tests.integration.sender.world import (  # noqa: E402
    SENDER,
    SENDER_KEY,
    make_worker,
    prepare_chain,
    seed,
)

SCRATCH = ROOT / ".dpo" / "bench" / "sender"


def _rpc(client: httpx.Client, url: str, method: str, *params: Any) -> Any:
    answer = client.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def baseline(url: str, contracts: Contracts, investor: str, orders: int) -> float:
    """One transaction at a time: send, wait for the receipt, next. Returns seconds."""
    account = Account.from_key(SENDER_KEY)
    with httpx.Client(timeout=30) as client:
        nonce = int(_rpc(client, url, "eth_getTransactionCount", SENDER, "pending"), 16)
        started = time.perf_counter()
        for _ in range(orders):
            reference = "0x" + __import__("secrets").token_hex(32)
            order = Order(offering_id=1, investor=investor, amount=3000, units=3)
            for kind in ("invest", "issue"):
                call = contracts.call_for(kind, order, reference)
                gas = int(
                    _rpc(
                        client,
                        url,
                        "eth_estimateGas",
                        {"from": SENDER, "to": call.to, "data": call.data},
                    ),
                    16,
                )
                base = int(
                    _rpc(client, url, "eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16
                )
                signed = account.sign_transaction(
                    {
                        "type": 2,
                        "chainId": 31337,
                        "nonce": nonce,
                        "to": call.to,
                        "data": call.data,
                        "value": 0,
                        "gas": gas * 12 // 10,
                        "maxFeePerGas": 2 * base + 10**9,
                        "maxPriorityFeePerGas": 10**9,
                    }
                )
                tx_hash = _rpc(
                    client, url, "eth_sendRawTransaction", signed.raw_transaction.to_0x_hex()
                )
                nonce += 1
                while _rpc(client, url, "eth_getTransactionReceipt", tx_hash) is None:
                    time.sleep(0.005)
        return time.perf_counter() - started


async def with_sender(
    url: str, database_url: str, world: Any, orders: int, confirmations: int
) -> dict[str, Any]:
    """The real worker's passes over N paid orders enqueued at once."""
    engine = create_engine(database_url, pool_size=5)
    sessions = session_factory(engine)
    try:
        await seed(sessions, world, orders)
        worker = make_worker(
            sessions, world, url, max_in_flight=max(64, 2 * orders), confirmations=confirmations
        )
        started = time.perf_counter()
        passes = 0
        while True:
            passes += 1
            await worker.run_pass()
            async with sessions() as session:
                rows = list(await session.scalars(select(ChainIntent)))
            if all(row.state not in ("pending", "in_flight", "mined") for row in rows):
                break
        seconds = time.perf_counter() - started
        bad = [row.id for row in rows if row.state != "succeeded"]
        latencies = sorted(
            (row.finished_at - row.created_at).total_seconds()
            for row in rows
            if row.kind == "issue" and row.finished_at
        )
    finally:
        await engine.dispose()
    return {
        "seconds": seconds,
        "passes": passes,
        "not_succeeded": bad,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--block-time", type=float, default=0.0)
    parser.add_argument("--confirmations", type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    postgres = EmbeddedPostgres(SCRATCH / "pg", free_port(), durable=False)
    anvil = EmbeddedAnvil(
        SCRATCH / "anvil", free_port(), persist=False, block_time=args.block_time or None
    )
    server = postgres.start()
    url = anvil.start()
    try:
        database_url = await fresh_database(server, "dpo_bench_sender")
        await upgrade_async(database_url)
        addresses = await deploy_all(url, DEV_PRIVATE_KEY, wait_seconds=120)
        world = prepare_chain(url, addresses)
        contracts = Contracts(sto=world.sto, issuance=world.issuance)
        base_seconds = await asyncio.to_thread(
            baseline, url, contracts, world.investors[0], args.orders
        )
        ours = await with_sender(url, database_url, world, args.orders, args.confirmations)
    finally:
        anvil.stop()
        postgres.stop()
        shutil.rmtree(SCRATCH, ignore_errors=True)
    n = args.orders
    print(
        f"orders: {n} (2 transactions each), block time: "
        f"{args.block_time or 'one block per transaction'}, confirmations: "
        f"{args.confirmations}"
    )
    print(f"{'':28}{'baseline':>12}{'sender':>12}")
    print(f"{'seconds':28}{base_seconds:12.2f}{ours['seconds']:12.2f}")
    print(f"{'issuances/s':28}{n / base_seconds:12.1f}{n / ours['seconds']:12.1f}")
    print(f"{'transactions/s':28}{2 * n / base_seconds:12.1f}{2 * n / ours['seconds']:12.1f}")
    print(
        f"sender: {ours['passes']} passes; enqueue -> issued p50 {ours['p50']:.2f}s, "
        f"p99 {ours['p99']:.2f}s; not succeeded: {len(ours['not_succeeded'])}"
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "orders": n,
                "block_time": args.block_time,
                "confirmations": args.confirmations,
                "baseline_seconds": round(base_seconds, 3),
                "sender_seconds": round(ours["seconds"], 3),
                "baseline_issuances_per_s": round(n / base_seconds, 1),
                "sender_issuances_per_s": round(n / ours["seconds"], 1),
                "sender_p50_s": round(ours["p50"], 3),
                "sender_p99_s": round(ours["p99"], 3),
                "passes": ours["passes"],
                "not_succeeded": len(ours["not_succeeded"]),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())

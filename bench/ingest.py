"""Ingest benchmark: N events emitted on anvil through the contracts, then backfilled.

Usage: .venv/bin/python bench/ingest.py [--events 100000] [--tx-per-block 200]
       [--batch-blocks 10] [--max-batch-blocks 25] [--concurrency 4]

Starts its own PostgreSQL, Redis and anvil in a scratch folder under .dpo/bench/ (removed
afterwards) unless DATABASE_URL / REDIS_URL are set (a fresh `dpo_bench_ingest` database is
then created on that server), deploys the four contracts, emits the events (issue → Transfer +
Issued, every tenth transaction a TradeReported with a string), then runs the listener's own
backfill (RpcClient → Decoder → ingest_batch with projections) from block 0 to the head and
prints events/s, the peak RSS and RSS samples over time, the CPU per event of the listener,
PostgreSQL and anvil, and one `RESULT {json}` line.

Ranges are capped at `--max-batch-blocks` blocks (default 25 blocks, about 9,500 events): anvil
answers eth_getLogs of any size, where hosted providers refuse more than about 10,000 results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import resource
import shutil
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
from benchdb import fresh_database  # bench/ is the script's folder
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from sqlalchemy import insert, text

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.chain.deploy import deploy_all
from dpo.db.migrate import upgrade
from dpo.db.models import Issuer, Offering
from dpo.db.session import create_engine, session_factory
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil
from dpo.embedded.postgres import EmbeddedPostgres
from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.progress import Progress
from listener.rpc import RpcClient, verify_chain
from listener.service import freeze_heap

ROOT = Path(__file__).resolve().parents[1]
CHAIN_ID = 31337
DEV_ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
INVESTORS = 50
OFFERINGS = 20
LEI_A = b"5493001KJTIIGC8Y1R12".ljust(32, b"\0")
LEI_B = b"529900T8BM49AURSDO55".ljust(32, b"\0")
GAS = hex(400_000)
GAS_PRICE = hex(20 * 10**9)


def selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


ISSUE = selector("issue(address,uint256,uint256,bytes32)")
VERIFY = selector("verifyInvestor(address)")
REPORT = selector("report(bytes32,string,uint256,bytes3,bytes32,bytes32,uint8)")


def word(value: int) -> str:
    return f"{value:064x}"


def investor(n: int) -> str:
    return "0x" + f"{0xbe000 + n:040x}"


class Chain:
    """JSON-RPC to anvil with batched requests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=120)
        self.ids = 0

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        return (await self.batch([(method, params or [])]))[0]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = []
        for method, params in calls:
            self.ids += 1
            body.append({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        answers = (await self.http.post(self.url, json=body)).json()
        by_id = {a["id"]: a for a in answers}
        out = []
        for request in body:
            answer = by_id[request["id"]]
            if "error" in answer:
                raise RuntimeError(f"{request['method']}: {answer['error']}")
            out.append(answer["result"])
        return out


def tx(to: str, data: str, nonce: int) -> tuple[str, list[Any]]:
    return ("eth_sendTransaction", [{"from": DEV_ADDRESS, "to": to, "data": data, "gas": GAS,
                                     "gasPrice": GAS_PRICE, "nonce": hex(nonce)}])


async def emit(url: str, addresses: dict[str, str], events: int, per_block: int,
               empty_blocks: int = 0, start: int = 0) -> int:
    """Emit at least `events` events, `per_block` transactions per mined block; return blocks.

    `empty_blocks` empty blocks come before each block of events (a sparse chain). Calls
    after the first pass a `start` above the transactions sent before (references are unique).
    """
    chain = Chain(url)
    issuance = addresses["ISSUANCE_CONTRACT_ADDRESS"].lower()
    reporter = addresses["DERIVATIVES_REPORTER_CONTRACT_ADDRESS"].lower()
    nonce = int(await chain.call("eth_getTransactionCount", [DEV_ADDRESS, "pending"]), 16)
    await chain.call("evm_setAutomine", [False])
    setup = []
    for n in range(INVESTORS):
        setup.append(tx(issuance, "0x" + VERIFY + word(int(investor(n), 16)), nonce))
        nonce += 1
    await chain.batch(setup)
    await chain.call("evm_mine")
    emitted, blocks, sent = 0, 1, start
    while emitted < events:
        calls: list[tuple[str, list[Any]]] = []
        while len(calls) < per_block and emitted < events:
            if sent % 10 == 9:
                data = "0x" + REPORT + encode(
                    ["bytes32", "string", "uint256", "bytes3", "bytes32", "bytes32", "uint8"],
                    [f"UTI{sent:020d}".encode().ljust(32, b"\0"), "IRS-EUR-10Y",
                     10**6 + sent, b"EUR", LEI_A, LEI_B, 1]).hex()
                calls.append(tx(reporter, data, nonce))
                emitted += 1
            else:
                data = ("0x" + ISSUE + word(int(investor(sent % INVESTORS), 16))
                        + word(100 + sent % 7) + word(1 + sent % OFFERINGS) + word(sent + 1))
                calls.append(tx(issuance, data, nonce))
                emitted += 2
            nonce += 1
            sent += 1
        if empty_blocks:
            await chain.call("anvil_mine", [hex(empty_blocks)])
            blocks += empty_blocks
        await chain.batch(calls)
        await chain.call("evm_mine")
        blocks += 1
    last = await chain.call("eth_getBlockByNumber", ["latest", False])
    receipt = await chain.call("eth_getTransactionReceipt", [last["transactions"][-1]])
    if receipt["status"] != "0x1":
        raise RuntimeError("the last emitted transaction reverted")
    await chain.http.aclose()
    return blocks


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process, its reaped children (PostgreSQL backends) and live ones."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return 0.0
    return total


def server_pid(server: Any) -> int | None:
    """The pid of an embedded server this run started, else None."""
    child = getattr(server, "server", None)
    process = getattr(child, "process", None)
    return None if process is None else int(process.pid)


class RssSampler(threading.Thread):
    """Samples this process's RSS every `every` seconds."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        process = psutil.Process()
        while not self.halt.is_set():
            self.samples.append((time.monotonic() - self.start_time, process.memory_info().rss))
            self.halt.wait(self.every)


async def backfill(rpc_url: str, database_url: str, redis_url: str,
                   addresses: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """The listener's backfill from block 0 to the head; its time and events."""
    from redis.asyncio import Redis

    engine = create_engine(database_url, pool_size=max(2, args.concurrency))
    redis = Redis.from_url(redis_url)
    rpc = RpcClient(urls=[rpc_url], timeout=60)
    decoder = Decoder(CHAIN_ID, {address: CONTRACT_ARTIFACTS[var]
                                 for var, address in addresses.items()})
    config = FollowerConfig(chain_id=CHAIN_ID, concurrency=args.concurrency,
                            batch_blocks=args.batch_blocks,
                            max_batch_blocks=args.max_batch_blocks)
    follower = Follower(rpc=rpc, sessions=session_factory(engine), redis=redis,
                        decoder=decoder, config=config, progress=Progress(every=5.0))
    try:
        await verify_chain(rpc, CHAIN_ID)
        head = await rpc.block_number()
        await follower.resume()
        started = time.perf_counter()
        await follower.sync(head, head, asyncio.Event())
        seconds = time.perf_counter() - started
        async with engine.connect() as connection:
            stored = (await connection.execute(
                text("SELECT count(*) FROM chain_events WHERE NOT removed"))).scalar_one()
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


async def seed(database_url: str, token: str) -> None:
    """One offering of the deployed token, so that positions are projected."""
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(insert(Issuer), [{"id": 1, "name": "Issuer", "country": "DE"}])
        await connection.execute(insert(Offering), [{
            "id": 1, "issuer_id": 1, "isin": "US0378331005", "name": "Bench offering",
            "symbol": "BNCH", "security_type": "equity", "regulation": "reg_s",
            "currency": "EUR", "unit_price": Decimal("10"), "status": "open",
            "opens_at": now - timedelta(days=1), "closes_at": now + timedelta(days=30),
            "allowed_countries": [], "token_address": token, "onchain_offering_id": 1,
        }])
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tx-per-block", type=int, default=200)
    parser.add_argument("--batch-blocks", type=int, default=10)
    parser.add_argument("--max-batch-blocks", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--empty-blocks", type=int, default=0,
                        help="empty blocks before each block of events (a sparse chain)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the backfill here")
    args = parser.parse_args()

    scratch = ROOT / ".dpo" / "bench" / f"ingest-{os.getpid()}"
    started: list[Any] = []
    postgres: EmbeddedPostgres | None = None
    try:
        database_url = os.environ.get("DATABASE_URL")
        redis_url = os.environ.get("REDIS_URL")
        if database_url is None:
            postgres = EmbeddedPostgres(scratch / "pg", free_port())
            database_url = postgres.start()
            started.append(postgres)
        if redis_url is None:
            redis_server = EmbeddedRedis(scratch / "redis", free_port())
            redis_url = redis_server.start()
            started.append(redis_server)
        anvil = EmbeddedAnvil(scratch / "anvil", free_port(), chain_id=CHAIN_ID, persist=False,
                              prune_history=True)
        rpc_url = anvil.start()
        started.append(anvil)
        database_url = asyncio.run(fresh_database(database_url, "dpo_bench_ingest"))
        upgrade(database_url)
        addresses = asyncio.run(deploy_all(rpc_url, DEV_PRIVATE_KEY))
        asyncio.run(seed(database_url, addresses["ISSUANCE_CONTRACT_ADDRESS"]))

        t0 = time.perf_counter()
        blocks = asyncio.run(emit(rpc_url, addresses, args.events, args.tx_per_block,
                                  args.empty_blocks))
        emit_seconds = time.perf_counter() - t0
        print(f"emitted {args.events} events in {blocks} blocks in {emit_seconds:.1f}s "
              f"({args.events / emit_seconds:,.0f} events/s)", flush=True)

        freeze_heap()  # as `dpo listener` does before it starts following
        rss_before = psutil.Process().memory_info().rss
        cpu_before = psutil.Process().cpu_times()
        pg_pid, anvil_pid = server_pid(postgres), server_pid(anvil)
        pg_before, anvil_before = tree_cpu(pg_pid), tree_cpu(anvil_pid)
        sampler = RssSampler()
        sampler.start()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        figures = asyncio.run(backfill(rpc_url, database_url, redis_url, addresses, args))
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
        samples = sampler.samples
        step = max(1, len(samples) // 10)
        profile = [(round(t, 1), round(rss / 2**20)) for t, rss in samples[::step]]
        print(f"backfill: {figures['stored']:,} events in {figures['head'] + 1:,} blocks in "
              f"{figures['seconds']:.1f}s = {rate:,.0f} events/s")
        per_event = 1e6 / figures["stored"]
        print(f"CPU per event: listener {cpu_seconds * per_event:.0f} us, PostgreSQL "
              f"{'-' if pg_cpu is None else f'{pg_cpu * per_event:.0f}'} us, anvil "
              f"{anvil_cpu * per_event:.0f} us; load average {os.getloadavg()[0]:.1f}")
        print(f"RPC requests by method: {rpc_requests()}")
        print(f"peak RSS {peak_kb / 1024:.0f} MB (before backfill {rss_before / 2**20:.0f} MB); "
              f"RSS over time (s, MB): {profile}")
        if figures["stored"] < args.events * 0.99:
            print(f"WARNING: {figures['stored']} events stored, {args.events} emitted",
                  file=sys.stderr)
        print("RESULT " + json.dumps({
            "bench": "ingest", "events": figures["stored"], "blocks": figures["head"] + 1,
            "emit_seconds": round(emit_seconds, 2), "seconds": round(figures["seconds"], 2),
            "events_per_s": round(rate), "cpu_seconds": round(cpu_seconds, 2),
            "postgres_cpu_seconds": None if pg_cpu is None else round(pg_cpu, 2),
            "anvil_cpu_seconds": round(anvil_cpu, 2),
            "load_average": round(os.getloadavg()[0], 2), "peak_rss_mb": round(peak_kb / 1024),
            "rss_before_backfill_mb": round(rss_before / 2**20),
            "rss_mb_samples": [mb for _, mb in profile],
            "concurrency": args.concurrency, "max_batch_blocks": args.max_batch_blocks,
            "tx_per_block": args.tx_per_block, "empty_blocks": args.empty_blocks,
            "rpc_requests": rpc_requests(),
        }))
    finally:
        while started:
            started.pop().stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

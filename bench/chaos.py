"""Chaos run of `dpo listener` processes against anvil, diffed against a clean run.

Usage: .venv/bin/python bench/chaos.py [--kills 20] [--reorgs 16] [--takeovers 6]
       [--db-kills 20] [--lag-seconds 20] [--window 8]

Starts PostgreSQL, Redis and anvil in a scratch folder under .dpo/bench/ (removed afterwards),
deploys the contracts and emits events with bench/ingest.py's emitter, then runs, each on a
fresh database:

- kill9: the listener process killed with SIGKILL at random moments of a backfill, restarted;
- reorgs: anvil_reorg of depths 1..window (the window itself included) under a following
  listener, some while it is stopped, with replacement transactions;
- leader: two listener processes; the active one killed with SIGKILL; the takeover time is
  from the kill until the other holds the advisory lock;
- dbfaults: the listener's connections terminated mid-transaction (pg_terminate_backend),
  then a stretch where every statement times out; process exits are counted;
- lag: the listener behind the fault proxy (tests/support/faulty_proxy.py) answering as a
  node 1-30 blocks behind or without receipts, mixed with 500s and cut answers, while events
  are emitted.

Every scenario ends with every table diffed against a clean in-process backfill of the same
chain: rows lost, rows extra (duplicated or wrong). Prints one `RESULT {json}` per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from benchdb import fresh_database  # bench/ is the script's folder
from ingest import CHAIN_ID, ISSUE, emit, investor, seed, word
from sqlalchemy import text

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.chain.deploy import deploy_all
from dpo.db.migrate import upgrade
from dpo.db.session import create_engine, session_factory
from dpo.db.urls import libpq_url
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil
from dpo.embedded.postgres import EmbeddedPostgres
from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.leader import lock_key
from listener.rpc import RpcClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.faulty_proxy import FaultyProxy  # noqa: E402 - the repository's root

VOLATILE = {"id", "removes_id", "created_at", "updated_at", "removed_at", "chain_event_id",
            "event_id", "received_at", "halted_at", "opens_at", "closes_at"}


class World:
    """The servers, the contracts and the scratch databases of one chaos run."""

    def __init__(self, server_url: str, redis_url: str, rpc_url: str,
                 addresses: dict[str, str], window: int) -> None:
        self.server_url = server_url
        self.redis_url = redis_url
        self.rpc_url = rpc_url
        self.addresses = addresses
        self.window = window
        self.databases = 0
        self.rng = random.Random(7)  # noqa: S311 - chaos timing, not cryptography
        self.sent = 0
        self.reverted_emits = 0

    async def emit(self, events: int, per_block: int) -> None:
        """More events (bench/ingest.py's emitter, with references never used before)."""
        self.sent += 10 * events
        try:
            await emit(self.rpc_url, self.addresses, events, per_block, start=self.sent)
        except RuntimeError:  # a reorg took a verification away; the diff covers what landed
            self.reverted_emits += 1

    async def database(self) -> str:
        """A fresh migrated database with the bench's offering."""
        self.databases += 1
        url = await fresh_database(self.server_url, f"dpo_chaos_{self.databases}")
        await asyncio.to_thread(upgrade, url)
        await seed(url, self.addresses["ISSUANCE_CONTRACT_ADDRESS"])
        return url

    def env(self, database_url: str, rpc_url: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "QUICKNODE_URL", "BLOCKCHAIN_RPC_URL")}
        env.update({"DATABASE_URL": database_url, "REDIS_URL": self.redis_url,
                    "BLOCKCHAIN_RPC_URL": rpc_url or self.rpc_url, "BLOCKCHAIN_NETWORK": "anvil",
                    "START_BLOCK_NUMBER": "0", "LISTENER_POLL_INTERVAL": "0.1",
                    "LISTENER_BATCH_BLOCKS": "2", "LISTENER_MAX_BATCH_BLOCKS": "4",
                    "LISTENER_REORG_WINDOW": str(self.window), "LOG_LEVEL": "WARNING",
                    **self.addresses, **extra})
        return env

    def start(self, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "app", "listener"], env=env,
                                    cwd=ROOT / "tests", stdout=out, stderr=subprocess.STDOUT)

    async def call(self, method: str, params: list[Any]) -> Any:
        rpc = RpcClient(urls=[self.rpc_url], timeout=30)
        try:
            return await rpc.call(method, params)
        finally:
            await rpc.aclose()

    async def head(self) -> tuple[int, str]:
        block = await self.call("eth_getBlockByNumber", ["latest", False])
        return int(block["number"], 16), str(block["hash"])


async def connect(url: str) -> asyncpg.Connection:
    """The bench's own connection, immune to the statement timeouts it imposes on the listener."""
    return await asyncpg.connect(libpq_url(url), server_settings={"statement_timeout": "0"})


async def checkpoint(url: str) -> tuple[int, str] | None:
    connection = await connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT last_processed_block, last_processed_hash FROM listener_checkpoints")
    finally:
        await connection.close()
    return None if row is None else (int(row[0]), str(row[1]))


async def wait_for_head(world: World, url: str, within: float = 180) -> float:
    """Seconds until the database's checkpoint is the chain head."""
    started = time.monotonic()
    while await checkpoint(url) != await world.head():
        if time.monotonic() - started > within:
            raise RuntimeError(f"the listener never reached the head ({await checkpoint(url)})")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def every_table(url: str) -> dict[str, set[tuple[str, ...]]]:
    """Every table's rows as text, feed ids and wall-clock columns left out, live events only."""
    engine = create_engine(url)
    tables: dict[str, set[tuple[str, ...]]] = {}
    try:
        async with engine.connect() as connection:
            columns = (await connection.execute(text(
                "SELECT table_name, column_name FROM information_schema.columns WHERE "
                "table_schema = 'public' ORDER BY table_name, ordinal_position"))).all()
            by_table: dict[str, list[str]] = {}
            for table, column in columns:
                if table not in ("alembic_version", "feed_sequence") and column not in VOLATILE:
                    by_table.setdefault(str(table), []).append(str(column))
            for table, names in by_table.items():
                where = " WHERE NOT removed AND removes_id IS NULL" \
                    if table == "chain_events" else ""
                listed = ", ".join(f'"{n}"::text' for n in names)
                query = f'SELECT {listed} FROM "{table}"{where}'  # noqa: S608 - catalogue names
                rows = (await connection.execute(text(query))).all()
                tables[table] = {tuple(str(v) for v in row) for row in rows}
    finally:
        await engine.dispose()
    return tables


async def clean(world: World) -> dict[str, set[tuple[str, ...]]]:
    """Every table after an uninterrupted in-process backfill of the chain as it is now."""
    url = await world.database()
    engine = create_engine(url)
    rpc = RpcClient(urls=[world.rpc_url], timeout=30)
    decoder = Decoder(CHAIN_ID, {a: CONTRACT_ARTIFACTS[v] for v, a in world.addresses.items()})
    follower = Follower(rpc=rpc, sessions=session_factory(engine), redis=None, decoder=decoder,
                        config=FollowerConfig(chain_id=CHAIN_ID, reorg_window=world.window,
                                              batch_blocks=50, max_batch_blocks=50))
    try:
        number, _ = await world.head()
        await follower.resume()
        await follower.sync(number, number, asyncio.Event())
    finally:
        await rpc.aclose()
        await engine.dispose()
    return await every_table(url)


async def diff(world: World, url: str) -> dict[str, int]:
    """Rows lost and rows extra (duplicated or wrong) against a clean run, over every table."""
    mine, reference = await every_table(url), await clean(world)
    lost = {t: len(reference[t] - mine.get(t, set())) for t in reference}
    extra = {t: len(mine[t] - reference.get(t, set())) for t in mine}
    differing = sorted(t for t in set(lost) | set(extra) if lost.get(t) or extra.get(t))
    if differing:
        for table in differing:
            print(f"  {table}: lost {sorted(reference[table] - mine.get(table, set()))[:3]} "
                  f"extra {sorted(mine.get(table, set()) - reference[table])[:3]}")
    return {"events": len(reference["chain_events"]), "rows_lost": sum(lost.values()),
            "rows_extra": sum(extra.values()), "tables_differing": differing}


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return process.returncode


async def kill9(world: World, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    url = await world.database()
    env = world.env(url)
    target, _ = await world.head()
    kills = 0
    while kills < args.kills:
        process = world.start(env, log)
        await asyncio.sleep(world.rng.uniform(0.8, 2.5))  # start-up, then some batches
        if (await checkpoint(url) or (-1, ""))[0] >= target:
            await world.emit(400, 40)  # more to backfill
            target, _ = await world.head()
        process.kill()
        process.wait(10)
        kills += 1
    process = world.start(env, log)
    await wait_for_head(world, url)
    code = stop(process)
    return {"scenario": "kill9", "kills": kills, "final_exit": code, **await diff(world, url)}


async def reorgs(world: World, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    url = await world.database()
    env = world.env(url)
    process = world.start(env, log)
    await wait_for_head(world, url)
    depths: list[int] = []
    exits = 0
    for i in range(args.reorgs):
        depth = world.window if i % 4 == 0 else world.rng.randint(1, world.window)
        down = i % 5 == 4
        if down:
            exits += stop(process) != 0
        data = ("0x" + ISSUE + word(int(investor(i % 50), 16)) + word(7 + i) + word(1)
                + word(10**9 + i))
        txs = [[{"from": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                 "to": world.addresses["ISSUANCE_CONTRACT_ADDRESS"].lower(), "data": data,
                 "gas": hex(500_000)}, 0]]
        await world.call("anvil_reorg", [depth, txs])
        depths.append(depth)
        if down:
            process = world.start(env, log)
        await wait_for_head(world, url)
        if process.poll() is not None:
            exits += 1
            process = world.start(env, log)
        await world.emit(60, 20)
        await wait_for_head(world, url)
    exits += stop(process) != 0
    return {"scenario": "reorgs", "reorgs": len(depths), "window": world.window,
            "at_window_depth": depths.count(world.window), "max_depth": max(depths),
            "unexpected_exits": exits, **await diff(world, url)}


async def lock_holder(url: str) -> tuple[int, int] | None:
    """The backend pid and client port of the connection holding the listener lock."""
    connection = await connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT l.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = $1", lock_key(CHAIN_ID))
    finally:
        await connection.close()
    return None if row is None else (int(row[0]), int(row[1]))


async def lock_pid(url: str) -> int:
    """The lock holder's backend pid, or 0."""
    held = await lock_holder(url)
    return held[0] if held else 0


def holding(processes: list[subprocess.Popen[bytes]], port: int) -> int | None:
    """The index of the process with a connection from that local port."""
    for index, process in enumerate(processes):
        with contextlib.suppress(psutil.Error):
            if any(c.laddr and c.laddr.port == port
                   for c in psutil.Process(process.pid).net_connections("tcp")):
                return index
    return None


async def standing_by(process: subprocess.Popen[bytes], pg_port: int) -> None:
    """Wait until a started listener has a PostgreSQL connection (it polls for the lock)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if any(c.raddr and c.raddr.port == pg_port
                   for c in psutil.Process(process.pid).net_connections("tcp")):
                return
        await asyncio.sleep(0.05)
    raise RuntimeError("the standby never connected to PostgreSQL")


async def leader(world: World, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    url = await world.database()
    env = world.env(url)
    processes = [world.start(env, log), world.start(env, log)]
    await wait_for_head(world, url)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for process in processes:
        await standing_by(process, port)
    takeovers: list[float] = []
    for _ in range(args.takeovers):
        await world.emit(100, 20)
        held = await lock_holder(url)
        active = None if held is None else holding(processes, held[1])
        while held is None or active is None:
            await asyncio.sleep(0.05)
            held = await lock_holder(url)
            active = None if held is None else holding(processes, held[1])
        processes[active].kill()
        processes[active].wait(10)
        killed_at = time.monotonic()
        now = await lock_holder(url)
        while now is None or now[0] == held[0]:
            if time.monotonic() - killed_at > 60:
                raise RuntimeError("no standby took over within 60 s")
            await asyncio.sleep(0.01)
            now = await lock_holder(url)
        takeovers.append(time.monotonic() - killed_at)
        processes[active] = world.start(env, log)  # the new standby
        await standing_by(processes[active], port)
        await wait_for_head(world, url)
    for process in processes:
        stop(process)
    return {"scenario": "leader", "takeovers": len(takeovers),
            "takeover_s_max": round(max(takeovers), 3),
            "takeover_s_median": round(statistics.median(takeovers), 3),
            **await diff(world, url)}


async def dbfaults(world: World, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    url = await world.database()
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(world.server_url)
    process = world.start(world.env(url), log)
    killed = exits = 0
    try:
        await world.emit(2000, 40)
        deadline = time.monotonic() + 120
        while killed < args.db_kills and time.monotonic() < deadline:
            lock = await lock_holder(url)
            for row in await admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state IN "
                    "('active', 'idle in transaction') AND pid <> $2", name,
                    lock[0] if lock else 0):
                killed += bool(await admin.fetchval("SELECT pg_terminate_backend($1)", row[0]))
            if process.poll() is not None:
                exits += 1
                process = world.start(world.env(url), log)
            if (await checkpoint(url) or (-1, ""))[0] >= (await world.head())[0]:
                await world.emit(400, 40)
            await asyncio.sleep(0.02)
        await admin.execute(f'ALTER DATABASE "{name}" SET statement_timeout = 5')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "datname = $1 AND pid <> $2", name, await lock_pid(url))
        await world.emit(400, 40)
        await asyncio.sleep(3)
        await admin.execute(f'ALTER DATABASE "{name}" RESET statement_timeout')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "datname = $1 AND pid <> $2", name, await lock_pid(url))
        await wait_for_head(world, url)
        exits += process.poll() is not None
    finally:
        await admin.close()
        stop(process)
    return {"scenario": "dbfaults", "terminated": killed, "process_exits": exits,
            **await diff(world, url)}


async def lag(world: World, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    url = await world.database()
    async with FaultyProxy(world.rpc_url, seed=11) as proxy:
        proxy.set_rates({"lag:1": 0.1, "lag:5": 0.1, "lag:30": 0.1, "empty": 0.1, "500": 0.05,
                         "cut": 0.02}, seed=11)
        process = world.start(world.env(url, rpc_url=proxy.url), log)
        until = time.monotonic() + args.lag_seconds
        while time.monotonic() < until:
            await world.emit(200, 20)
            await asyncio.sleep(0.3)
        proxy.clear()
        await wait_for_head(world, url)
        code = stop(process)
        faults = dict(proxy.faults_injected)
    return {"scenario": "lag", "faults": faults, "final_exit": code, **await diff(world, url)}


async def run(args: argparse.Namespace, server_url: str, redis_url: str, rpc_url: str,
              scratch: Path) -> None:
    addresses = await deploy_all(rpc_url, DEV_PRIVATE_KEY)
    world = World(server_url, redis_url, rpc_url, addresses, args.window)
    await world.emit(args.events, 100)
    log = scratch / "listener.log"
    chosen = args.scenarios.split(",")
    for scenario in (s for s in (kill9, reorgs, leader, dbfaults, lag) if s.__name__ in chosen):
        started = time.monotonic()
        result = await scenario(world, args, log)
        result["seconds"] = round(time.monotonic() - started, 1)
        result["emits_with_a_reverted_last_tx"] = world.reverted_emits
        print("RESULT " + json.dumps(result), flush=True)
    lines = log.read_text(errors="replace").splitlines()
    counts = {what: sum(what in line for line in lines) for what in (
        "refused an answer", "refused the provider's answers", "database error", "CRITICAL",
        "Traceback")}
    print("listener log lines: " + json.dumps(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--reorgs", type=int, default=16)
    parser.add_argument("--takeovers", type=int, default=6)
    parser.add_argument("--db-kills", type=int, default=20)
    parser.add_argument("--lag-seconds", type=float, default=20)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--scenarios", default="kill9,reorgs,leader,dbfaults,lag")
    args = parser.parse_args()
    scratch = ROOT / ".dpo" / "bench" / f"chaos-{os.getpid()}"
    started: list[Any] = []
    try:
        postgres = EmbeddedPostgres(scratch / "pg", free_port())
        server_url = postgres.start()
        started.append(postgres)
        redis_server = EmbeddedRedis(scratch / "redis", free_port())
        redis_url = redis_server.start()
        started.append(redis_server)
        anvil = EmbeddedAnvil(scratch / "anvil", free_port(), chain_id=CHAIN_ID, persist=False)
        rpc_url = anvil.start()
        started.append(anvil)
        asyncio.run(run(args, server_url, redis_url, rpc_url, scratch))
    finally:
        while started:
            started.pop().stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The chaos run's world: servers, contracts, scratch databases and the diff against a clean run.

Every scenario (bench/chaos_listener.py, bench/chaos_web.py) runs on a fresh database of the
bench's offering and ends with `diff`: every table (feed ids, wall-clock columns and seeded
dates left out; live events only) against a clean in-process backfill of the same chain.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from benchdb import fresh_database  # bench/ is the script's folder
from emitter import emit, seed
from sqlalchemy import text
from stack import CHAIN_ID, ROOT

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.db.migrate import upgrade
from dpo.db.session import create_engine, session_factory
from dpo.db.urls import libpq_url
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.rpc import RpcClient
from listener.store import PgStore

VOLATILE = {
    "id",
    "removes_id",
    "created_at",
    "updated_at",
    "removed_at",
    "chain_event_id",
    "event_id",
    "received_at",
    "halted_at",
    "opens_at",
    "closes_at",
    "payment_next_attempt_at",
    "next_attempt_at",
}
# Live events only; and the messages of orders issued now: a reorg that takes an Issued away
# leaves its queued tokens_issued message (docs/ARCHITECTURE.md), which a clean run never had.
WHERE = {
    "chain_events": " WHERE NOT removed AND removes_id IS NULL",
    "notifications": " WHERE event <> 'tokens_issued' OR key IN (SELECT 'tokens_issued:inv:' || "
    "id FROM investments WHERE state = 'issued')",
}
# Paid orders for one issue in ten of every emission's references (bench/emitter.py), so the
# listener's order matching runs under every fault too.
ORDERS_UP_TO, ORDERS_EVERY = 1_000_000, 10


class World:
    """The servers, the contracts and the scratch databases of one chaos run."""

    def __init__(
        self, server_url: str, redis_url: str, rpc_url: str, addresses: dict[str, str], window: int
    ) -> None:
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
        await seed(url, self.addresses["ISSUANCE_CONTRACT_ADDRESS"], ORDERS_UP_TO, ORDERS_EVERY)
        return url

    def env(self, database_url: str, rpc_url: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "QUICKNODE_URL", "BLOCKCHAIN_RPC_URL")
        }
        env.update(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": self.redis_url,
                "BLOCKCHAIN_RPC_URL": rpc_url or self.rpc_url,
                "BLOCKCHAIN_NETWORK": "anvil",
                "START_BLOCK_NUMBER": "0",
                "LISTENER_POLL_INTERVAL": "0.1",
                "LISTENER_BATCH_BLOCKS": "2",
                "LISTENER_MAX_BATCH_BLOCKS": "4",
                "LISTENER_REORG_WINDOW": str(self.window),
                "LOG_LEVEL": "WARNING",
                **self.addresses,
                **extra,
            }
        )
        return env

    def start(self, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "app", "listener"],
                env=env,
                cwd=ROOT / "tests",
                stdout=out,
                stderr=subprocess.STDOUT,
            )

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
            "SELECT last_processed_block, last_processed_hash FROM listener_checkpoints"
        )
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
            columns = (
                await connection.execute(
                    text(
                        "SELECT table_name, column_name FROM information_schema.columns WHERE "
                        "table_schema = 'public' ORDER BY table_name, ordinal_position"
                    )
                )
            ).all()
            by_table: dict[str, list[str]] = {}
            for table, column in columns:
                if table not in ("alembic_version", "feed_sequence") and column not in VOLATILE:
                    by_table.setdefault(str(table), []).append(str(column))
            for table, names in by_table.items():
                where = WHERE.get(table, "")
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
    follower = Follower(
        rpc=rpc,
        store=PgStore(session_factory(engine)),
        decoder=decoder,
        config=FollowerConfig(
            chain_id=CHAIN_ID, reorg_window=world.window, batch_blocks=50, max_batch_blocks=50
        ),
    )
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
            print(
                f"  {table}: lost {sorted(reference[table] - mine.get(table, set()))[:3]} "
                f"extra {sorted(mine.get(table, set()) - reference[table])[:3]}"
            )
    return {
        "events": len(reference["chain_events"]),
        "rows_lost": sum(lost.values()),
        "rows_extra": sum(extra.values()),
        "tables_differing": differing,
    }


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return process.returncode

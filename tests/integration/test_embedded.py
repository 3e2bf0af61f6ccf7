"""The embedded servers: real processes, idempotent start, data kept, clean stop."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import psutil
import redis

from dpo.embedded.anvil import EmbeddedAnvil, rpc_call
from dpo.embedded.postgres import EmbeddedPostgres
from dpo.embedded.process import free_port, port_open
from dpo.embedded.redis import EmbeddedRedis


def _processes_using(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(process)
    return found


async def _query(url: str, sql: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_postgres_start_is_idempotent_keeps_data_and_stops_cleanly(run_dir: Path) -> None:
    folder = run_dir / "embedded-pg"
    first = EmbeddedPostgres(folder, free_port(), durable=False)
    url = first.start()
    await _query(url, "CREATE TABLE kept AS SELECT 42 AS x")

    # A second start on the same data reuses the running server instead of failing.
    second = EmbeddedPostgres(folder, free_port(), durable=False)
    assert second.start() == url
    assert second.server is None
    second.stop()
    assert await _query(url, "SELECT 1") == 1

    first.stop()
    assert not port_open(first.port)
    assert _processes_using(folder / "data") == []

    # Restarted on the same folder, the data is still there.
    third = EmbeddedPostgres(folder, free_port(), durable=False)
    try:
        assert await _query(third.start(), "SELECT x FROM kept") == 42
    finally:
        third.stop()
    assert _processes_using(folder / "data") == []


def test_redis_start_reuse_and_stop(run_dir: Path) -> None:
    port = free_port()
    server = EmbeddedRedis(run_dir / "embedded-redis", port)
    url = server.start()
    client = redis.Redis.from_url(url)
    assert client.ping()
    again = EmbeddedRedis(run_dir / "embedded-redis", port)
    assert again.start() == url
    assert again.server is None
    client.close()
    server.stop()
    assert not port_open(port)


def test_anvil_starts_with_the_chain_id_and_stops(run_dir: Path) -> None:
    chain = EmbeddedAnvil(run_dir / "embedded-anvil", free_port(), chain_id=42170, persist=False)
    url = chain.start()
    try:
        assert rpc_call(url, "eth_chainId") == hex(42170)
    finally:
        chain.stop()
    assert not port_open(chain.port)

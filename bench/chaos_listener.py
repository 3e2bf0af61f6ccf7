"""Chaos scenarios of `dpo listener` processes: kill -9, reorgs, leader kills, database faults,
lagging nodes. Each returns its figures and the diff against a clean run (bench/chaos_world.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from chaos_world import World, checkpoint, connect, diff, stop, wait_for_head
from emitter import ISSUE, investor, word
from stack import CHAIN_ID, ROOT

from listener.leader import lock_key

sys.path.insert(0, str(ROOT))
from tests.support.faulty_proxy import FaultyProxy


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
        data = (
            "0x" + ISSUE + word(int(investor(i % 50), 16)) + word(7 + i) + word(1) + word(10**9 + i)
        )
        txs = [
            [
                {
                    "from": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                    "to": world.addresses["ISSUANCE_CONTRACT_ADDRESS"].lower(),
                    "data": data,
                    "gas": hex(500_000),
                },
                0,
            ]
        ]
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
    return {
        "scenario": "reorgs",
        "reorgs": len(depths),
        "window": world.window,
        "at_window_depth": depths.count(world.window),
        "max_depth": max(depths),
        "unexpected_exits": exits,
        **await diff(world, url),
    }


async def lock_holder(url: str) -> tuple[int, int] | None:
    """The backend pid and client port of the connection holding the listener lock."""
    connection = await connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT l.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
            lock_key(CHAIN_ID),
        )
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
            if any(
                c.laddr and c.laddr.port == port
                for c in psutil.Process(process.pid).net_connections("tcp")
            ):
                return index
    return None


async def standing_by(process: subprocess.Popen[bytes], pg_port: int) -> None:
    """Wait until a started listener has a PostgreSQL connection (it polls for the lock)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if any(
                c.raddr and c.raddr.port == pg_port
                for c in psutil.Process(process.pid).net_connections("tcp")
            ):
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
    return {
        "scenario": "leader",
        "takeovers": len(takeovers),
        "takeover_s_max": round(max(takeovers), 3),
        "takeover_s_median": round(statistics.median(takeovers), 3),
        **await diff(world, url),
    }


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
                "('active', 'idle in transaction') AND pid <> $2",
                name,
                lock[0] if lock else 0,
            ):
                killed += bool(await admin.fetchval("SELECT pg_terminate_backend($1)", row[0]))
            if process.poll() is not None:
                exits += 1
                process = world.start(world.env(url), log)
            if (await checkpoint(url) or (-1, ""))[0] >= (await world.head())[0]:
                await world.emit(400, 40)
            await asyncio.sleep(0.02)
        await admin.execute(f'ALTER DATABASE "{name}" SET statement_timeout = 5')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "datname = $1 AND pid <> $2",
            name,
            await lock_pid(url),
        )
        await world.emit(400, 40)
        await asyncio.sleep(3)
        await admin.execute(f'ALTER DATABASE "{name}" RESET statement_timeout')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "datname = $1 AND pid <> $2",
            name,
            await lock_pid(url),
        )
        await wait_for_head(world, url)
        exits += process.poll() is not None
    finally:
        await admin.close()
        stop(process)
    return {
        "scenario": "dbfaults",
        "terminated": killed,
        "process_exits": exits,
        **await diff(world, url),
    }


async def lag(world: World, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    url = await world.database()
    async with FaultyProxy(world.rpc_url, seed=11) as proxy:
        proxy.set_rates(
            {"lag:1": 0.1, "lag:5": 0.1, "lag:30": 0.1, "empty": 0.1, "500": 0.05, "cut": 0.02},
            seed=11,
        )
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

"""Chaos of the delivery path: `dpo web` killed with SIGKILL, Redis restarted and frozen, while
50 WebSocket subscribers of `events` resume by cursor and a listener follows the chain.

Each subscriber (graphql-transport-ws with the `websockets` client, as wsclient does) starts
from cursor 0, checks that every item is the next feed id (a skip is counted lost, a repeat
duplicated), rebuilds the live events (adds items, removes the item a `removesSequence`
names) and, when its socket drops, reconnects and subscribes again after its last cursor.
Rounds of events (some with a shallow reorg, for removal items) alternate a kill -9 of `dpo
web` (restarted on the same port), a Redis restart and a frozen Redis (SIGSTOP for a few
seconds). At the end every subscriber must hold exactly the database's live events, and the
tables must equal a clean run's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from chaos_world import World, connect, diff, stop, wait_for_head
from emitter import ISSUE, investor, word
from feed_subscriber import Subscriber, follow
from stack import ROOT, Stack, pid_of

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.embedded.process import free_port
from dpo.settings import Settings

SECRET = "bench-chaos-secret-" + "x" * 32


class Web:
    """`dpo web` on a fixed port, killed and started again."""

    def __init__(self, world: World, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        caps = "1000000"
        self.env = {
            **env,
            "DATABASE_URL": database_url,
            "REDIS_URL": world.redis_url,
            "DJANGO_SECRET_KEY": SECRET,
            "LOG_LEVEL": "WARNING",
            "WS_MAX_CONNECTIONS_PER_USER": caps,
            "WS_MAX_CONNECTIONS_PER_ADDRESS": caps,
            "RATE_LIMIT_USER": "100000000/min",
            "RATE_LIMIT_ANON": "100000000/min",
            "SLOW_CONSUMER_SECONDS": "300",
            # One process: SIGKILL of the command must free the port for the restart.
            "WEB_CONCURRENCY": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "web", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT / "tests",
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        """Start it and wait until it answers."""
        self.spawn()
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    await http.get(self.base + "/api/health/")
                    return
                if time.monotonic() > deadline or self.process.poll() is not None:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"dpo web did not start; its log ends:\n{tail}")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


async def all_connected(subs: list[Subscriber], within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not all(s.connected for s in subs):
        if time.monotonic() > deadline:
            raise RuntimeError("subscribers did not reconnect")
        await asyncio.sleep(0.1)


async def feed_state(url: str) -> tuple[set[int], int]:
    """The live events' feed ids and the newest feed id."""
    connection = await connect(url)
    try:
        rows = await connection.fetch(
            "SELECT id FROM chain_events WHERE NOT removed AND removes_id IS NULL"
        )
        head = await connection.fetchval("SELECT coalesce(max(id), 0) FROM chain_events")
    finally:
        await connection.close()
    return {int(r[0]) for r in rows}, int(head)


async def shallow_reorg(world: World, depth: int, n: int) -> None:
    data = (
        "0x" + ISSUE + word(int(investor(n % 50), 16)) + word(3 + n) + word(1) + word(2 * 10**9 + n)
    )
    await world.call(
        "anvil_reorg",
        [
            depth,
            [
                [
                    {
                        "from": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                        "to": world.addresses["ISSUANCE_CONTRACT_ADDRESS"].lower(),
                        "data": data,
                        "gas": hex(500_000),
                    },
                    0,
                ]
            ],
        ],
    )


async def webredis(
    world: World, args: argparse.Namespace, log: Path, *, stack: Stack, web_log: Path
) -> dict[str, Any]:
    url = await world.database()
    listener = world.start(world.env(url), log)
    web = Web(world, url, web_log)
    token = create_access_token(
        Principal(kind=Kind.STAFF, role="admin", user_id=1),
        settings=Settings(DJANGO_SECRET_KEY=SECRET),
    ).token
    subs = [Subscriber() for _ in range(args.subscribers)]
    ws_url = web.base.replace("http://", "ws://") + "/graphql"
    tasks: list[asyncio.Task[None]] = []
    faults = {"web_kill9": 0, "redis_restart": 0, "redis_freeze": 0, "reorgs": 0}
    caught_up = -1.0
    try:
        await web.start()
        tasks = [
            asyncio.create_task(follow(s, ws_url, token, random.Random(i)))  # noqa: S311
            for i, s in enumerate(subs)
        ]
        for round_ in range(args.web_rounds):
            await all_connected(subs)  # every fault hits every subscriber
            emission = asyncio.create_task(world.emit(300, 30))
            await asyncio.sleep(world.rng.uniform(0.05, 0.5))
            kind = ("web_kill9", "redis_restart", "redis_freeze")[round_ % 3]
            if kind == "web_kill9":
                web.kill()
                await web.start()
            elif kind == "redis_restart":
                await asyncio.to_thread(stack.restart_redis)
            else:
                pid = pid_of(stack.redis)
                assert pid is not None
                os.kill(pid, signal.SIGSTOP)
                await asyncio.sleep(3)
                os.kill(pid, signal.SIGCONT)
            faults[kind] += 1
            await emission
            if round_ % 2 == 1:
                await wait_for_head(world, url)
                await shallow_reorg(world, world.rng.randint(1, 3), round_)
                faults["reorgs"] += 1
        await wait_for_head(world, url)
        expected, head = await feed_state(url)
        started = time.monotonic()
        # Replayed items are executed per subscriber: on a loaded machine catching up takes
        # minutes. Wait while they progress; a minute without a delivery is a stall.
        progress, stalled_at = -1, time.monotonic()
        while not all(s.cursor >= head for s in subs) and time.monotonic() - stalled_at < 60:
            delivered = sum(s.deliveries for s in subs)
            if delivered != progress:
                progress, stalled_at = delivered, time.monotonic()
            await asyncio.sleep(0.5)
        caught_up = time.monotonic() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if web.process is not None and web.process.poll() is None:
            web.process.terminate()  # drains for WEB_DRAIN_SECONDS
            try:
                web.process.wait(60)
            except subprocess.TimeoutExpired:
                web.kill()
        code = stop(listener)
    return {
        "scenario": "webredis",
        "subscribers": len(subs),
        **faults,
        "feed_items": head,
        "deliveries": sum(s.deliveries for s in subs),
        "connections": sum(s.connections for s in subs),
        "subscribers_behind": sum(s.cursor < head for s in subs),
        "catch_up_s": round(caught_up, 1),
        "items_lost": sum(s.lost for s in subs),
        "items_duplicated": sum(s.duplicated for s in subs),
        "subscribers_wrong_state": sum(s.live != expected for s in subs),
        "stream_errors": sum(len(s.errors) for s in subs),
        "first_error": next((e for s in subs for e in s.errors), None),
        "listener_exit": code,
        **await diff(world, url),
    }

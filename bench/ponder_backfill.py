"""One backfill of bench/ponder.py's chain: our `dpo listener` process or `ponder start`.

Each side runs as a child process on its own fresh database of the same PostgreSQL server
and is timed from spawn until it has the chain's head: ours when `listener_checkpoints`
holds the head block, Ponder when its `/status` reports the head (and `/ready` answers 200,
historical indexing done). Then the child's CPU (user + system of it and its children,
reaped ones included, as getrusage gives them) and its peak RSS (the larger of the tree's
summed RSS sampled every 0.2 s and the main process's kernel high-water mark, VmHWM) are
read, and the events it stored are counted. The child is left running for the caller: the
last Ponder run serves the read benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from measure import tree_cpu  # bench/ is the script's folder

from dpo.db.urls import libpq_url
from dpo.embedded.process import free_port

ROOT = Path(__file__).resolve().parents[1]
PONDER_SCHEMA = "ponder_bench"
_ANY_EVENT = "SELECT EXISTS (SELECT 1 FROM chain_events)"


@dataclass
class Running:
    """A backfilling child: its process, what it answers on, where it writes."""

    side: str
    process: subprocess.Popen[bytes]
    database_url: str
    started: float
    base: str = ""  # Ponder's HTTP server
    nudge: str = ""  # an RPC URL: Ponder follows by newHeads, so mine a block once it is ready
    log: Path | None = None


class TreeRss(threading.Thread):
    """The largest summed RSS of a process and its children, sampled until halted."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.pid)
                total = root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
                self.peak = max(self.peak, total)
            self.halt.wait(self.every)


def high_water_mark(pid: int) -> int:
    """The kernel's peak RSS of one process (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def start_ours(
    database_url: str, redis_url: str, rpc_url: str, addresses: dict[str, str], log: Path
) -> Running:
    """`dpo listener` with its defaults (only what a deployment must set is set)."""
    env = {k: v for k, v in os.environ.items() if k not in ("QUICKNODE_URL",)}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BLOCKCHAIN_RPC_URL": rpc_url,
            "BLOCKCHAIN_NETWORK": "anvil",
            "START_BLOCK_NUMBER": "0",
            "LOG_LEVEL": "WARNING",
            **addresses,
        }
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "listener"],
            env=env,
            cwd=ROOT / "bench",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Running("ours", process, database_url, time.monotonic(), log=log)


def start_ponder(folder: Path, database_url: str, log: Path, nudge: str = "") -> Running:
    """`ponder start` of the installed app on its own database and schema."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PONDER_TELEMETRY_DISABLED": "true",
        "NODE_ENV": "production",
    }
    binary = folder / "node_modules" / "ponder" / "dist" / "esm" / "bin" / "ponder.js"
    command = ["node", str(binary), "start", "--schema", PONDER_SCHEMA, "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    return Running("ponder", process, database_url, started, base=base, log=log, nudge=nudge)


async def _scalar(url: str, query: str) -> Any:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


def progress(run: Running, head: int) -> tuple[int | None, bool]:
    """The newest block the side has indexed (None before any), and whether it is done."""
    if run.side == "ours":
        try:
            value = asyncio.run(
                _scalar(
                    run.database_url, "SELECT max(last_processed_block) FROM listener_checkpoints"
                )
            )
        except (asyncpg.PostgresError, OSError):
            return None, False
        block = None if value is None else int(value)
        if block is None and asyncio.run(_scalar(run.database_url, _ANY_EVENT)):
            block = 1  # a first range committed before the checkpoint row
        return block, block is not None and block >= head
    try:
        status = httpx.get(run.base + "/status", timeout=5).json()
        ready = httpx.get(run.base + "/ready", timeout=5).status_code == 200
    except (httpx.HTTPError, ValueError):
        return None, False
    blocks = [entry.get("block") for entry in (status or {}).values() if isinstance(entry, dict)]
    numbers = [int(block["number"]) for block in blocks if block]
    block = min(numbers) if numbers else None
    return block, ready and block is not None and block >= head


def stored_events(run: Running) -> int:
    query = (
        "SELECT count(*) FROM chain_events WHERE NOT removed"
        if run.side == "ours"
        else 'SELECT count(*) FROM "ponder_bench"."event"'
    )
    return int(asyncio.run(_scalar(run.database_url, query)))


def measure(run: Running, head: int, timeout: float, pg_pid: int | None) -> dict[str, Any]:
    """Wait until `run` has indexed block `head`; its time, CPU, peak RSS and events."""
    rss = TreeRss(run.process.pid)
    rss.start()
    pg_before = tree_cpu(pg_pid)
    first_progress: float | None = None
    while True:
        if run.process.poll() is not None:
            tail = run.log.read_text(errors="replace")[-3000:] if run.log else ""
            raise RuntimeError(f"{run.side} exited with {run.process.returncode}:\n{tail}")
        block, done = progress(run, head)
        if run.nudge and block is not None and not done and _ready(run):
            # Past its backfill, Ponder on newHeads waits for the next block to index the
            # unfinalized rest (its last 30 blocks); one empty block pushes a head.
            asyncio.run(_mine(run.nudge))
            run.nudge = ""
        now = time.monotonic()
        if block is not None and block > 0 and first_progress is None:
            first_progress = now
        if done:
            break
        if now - run.started > timeout:
            raise RuntimeError(f"{run.side} did not reach block {head} in {timeout:.0f} s")
        time.sleep(0.2)
    seconds = now - run.started
    cpu = tree_cpu(run.process.pid)
    pg_cpu = tree_cpu(pg_pid) - pg_before if pg_pid is not None else None
    rss.halt.set()
    rss.join()
    peak = max(rss.peak, high_water_mark(run.process.pid))
    events = stored_events(run)
    return {
        "side": run.side,
        "events": events,
        "seconds": round(seconds, 2),
        # When the first rows were committed: ours commits a whole range (up to 2,000 blocks
        # by default) at once, Ponder flushes its cache in batches, so this is no start-up time.
        "first_commit_seconds": round((first_progress or now) - run.started, 2),
        "events_per_s": round(events / seconds),
        "cpu_seconds": round(cpu, 2),
        "cpu_us_per_event": round(cpu / events * 1e6, 1) if events else None,
        "postgres_cpu_us_per_event": (
            round(pg_cpu / events * 1e6, 1) if events and pg_cpu is not None else None
        ),
        "peak_rss_mb": round(peak / 2**20),
    }


def stop(run: Running) -> None:
    """Stop the child (SIGTERM, then SIGKILL after 20 s)."""
    if run.process.poll() is None:
        run.process.terminate()
        try:
            run.process.wait(20)
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait(10)


def _ready(run: Running) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(run.base + "/ready", timeout=5).status_code == 200
    return False


async def _mine(rpc_url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await client.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine"})


async def head_block(rpc_url: str) -> int:
    """The chain's newest block number."""
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        )
    return int(answer.json()["result"], 16)

"""bench/latency.py's parts: the stage histograms scraped from /metrics, the subscribers' processes,
and one side's processes (a `dpo web` and a `dpo listener` of one checkout).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from billbitts import spawn
from emitter import Chain
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from dpo.db.session import create_engine

# (metrics URL kind, histogram, label filter) of each stage, all measured from the head seen.
STAGES = {
    "logs_fetched": ("listener", "dpo_listener_tip_seconds", {"stage": "logs_fetched"}),
    "committed": ("listener", "dpo_listener_tip_seconds", {"stage": "committed"}),
    "published": ("listener", "dpo_listener_tip_seconds", {"stage": "published"}),
    "frame": ("web", "dpo_feed_frame_seconds", {}),
}
SUBSCRIBE = "subscription { events { cursor node { sequence eventName blockNumber } } }"
Buckets = dict[str, dict[float, float]]


def buckets(text: str) -> Buckets:
    """Every stage's cumulative bucket counts (upper bound -> count) in a /metrics text.

    Summed over the other labels (a `dpo web` of several workers labels each one's `worker`).
    """
    out: Buckets = {}
    for family in text_string_to_metric_families(text):
        for stage, (_, name, labels) in STAGES.items():
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name != name + "_bucket":
                    continue
                if any(sample.labels.get(k) != v for k, v in labels.items()):
                    continue
                counts = out.setdefault(stage, {})
                le = float(sample.labels["le"])
                counts[le] = counts.get(le, 0.0) + sample.value
    return out


def minus(after: Buckets, before: Buckets) -> Buckets:
    """The observations between two scrapes."""
    return {
        stage: {le: count - before.get(stage, {}).get(le, 0.0) for le, count in counts.items()}
        for stage, counts in after.items()
    }


def plus(a: Buckets, b: Buckets) -> Buckets:
    """Two sets of observations together."""
    out = {stage: dict(counts) for stage, counts in a.items()}
    for stage, counts in b.items():
        target = out.setdefault(stage, {})
        for le, count in counts.items():
            target[le] = target.get(le, 0.0) + count
    return out


def quantile(counts: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket holding the q-th observation."""
    bounds = sorted(counts)
    if not bounds or counts[bounds[-1]] <= 0:
        return None
    rank = q * counts[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if counts[bound] >= rank:
            if bound == float("inf"):
                return lower
            inside = counts[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, counts[bound]
    return lower


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else None


async def scrape(url: str) -> Buckets:
    """A process's stage buckets (empty when it has no such metrics or does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            return buckets((await client.get(url)).text)
    except httpx.HTTPError:
        return {}


@dataclass
class Side:
    """One checkout's `dpo web` and `dpo listener` on a database and channel prefix of its own."""

    name: str
    tree: Path | None
    env: dict[str, str]
    logs: Path
    web_port: int
    metrics_port: int
    web: subprocess.Popen[bytes] | None = None
    listener: subprocess.Popen[bytes] | None = None
    received: list[tuple[int, float]] = field(default_factory=list)
    # Per mode: CPU seconds of the listener and of the web (workers included), and blocks.
    cpu: dict[str, list[float]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def url(self, kind: str) -> str:
        if kind == "web":
            return self.base + "/metrics"
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start_web(self) -> None:
        args = ["web", "--migrate", "--port", str(self.web_port)]
        self.web = spawn(args, self.env, self.logs, name=f"{self.name}-web", tree=self.tree)

    def start_listener(self, rpc_url: str, poll_interval: float) -> None:
        env = self.env | {
            "BLOCKCHAIN_RPC_URL": rpc_url,
            "LISTENER_POLL_INTERVAL": str(poll_interval),
            "LISTENER_METRICS_PORT": str(self.metrics_port),
        }
        name = f"{self.name}-listener"
        self.listener = spawn(["listener"], env, self.logs, name=name, tree=self.tree)

    def stop_listener(self) -> None:
        if self.listener is not None:
            self.resume()
            self.listener.terminate()
            self.listener.wait(30)
            self.listener = None

    def _signal(self, signum: int) -> None:
        for process in (self.web, self.listener):
            if process is not None and process.poll() is None:
                # A `dpo web` of several workers: its worker processes too.
                children = psutil.Process(process.pid).children(recursive=True)
                for pid in [process.pid, *(child.pid for child in children)]:
                    os.kill(pid, signum)

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU of the listener and of the web process tree so far."""

        def tree(process: subprocess.Popen[bytes] | None) -> float:
            if process is None or process.poll() is not None:
                return 0.0
            root = psutil.Process(process.pid)
            times = [root.cpu_times()] + [c.cpu_times() for c in root.children(recursive=True)]
            return sum(t.user + t.system for t in times)

        return tree(self.listener), tree(self.web)

    def count_cpu(self, mode: str, before: tuple[float, float], blocks: int) -> None:
        """Add a round's CPU (since `before`) and blocks to the mode's totals."""
        after = self.cpu_seconds()
        total = self.cpu.setdefault(mode, [0.0, 0.0, 0])
        total[0] += after[0] - before[0]
        total[1] += after[1] - before[1]
        total[2] += blocks

    def pause(self) -> None:
        """Freeze both processes (SIGSTOP) while the other side is measured."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        for process in (self.listener, self.web):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


async def wait_metric(base: str, name: str, at_least: float, within: float = 300) -> None:
    """Until the web process's gauge `name` reaches `at_least`."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < deadline:
            lines = (await client.get(base + "/metrics")).text.splitlines()
            # Summed over workers (`name{worker="0"} 3`) when there are several.
            total = sum(
                float(x.split()[-1]) for x in lines if x.startswith((name + " ", name + "{"))
            )
            if total >= at_least:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{name} never reached {at_least} on {base}")


async def head_of(database_url: str) -> int:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            value = await connection.scalar(
                text("SELECT max(last_processed_block) FROM listener_checkpoints")
            )
    finally:
        await engine.dispose()
    return int(value) if value is not None else -1


async def blocks_of(database_url: str) -> dict[int, int]:
    """Feed id -> block number of every event a side stored."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            query = text("SELECT id, block_number FROM chain_events")
            rows = (await connection.execute(query)).all()
    finally:
        await engine.dispose()
    return {int(i): int(b) for i, b in rows}


async def listening(side: Side, chain: Chain, within: float = 180) -> None:
    """Until a started listener has polled the head (its process is up and following)."""
    head = int(await chain.call("eth_blockNumber"), 16)
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                text = (await client.get(side.url("listener"))).text
            except httpx.HTTPError:
                text = ""
            for line in text.splitlines():
                if line.startswith("dpo_listener_head_block ") and float(line.split()[1]) >= head:
                    await asyncio.sleep(1.0)  # its newHeads subscription settles too
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{side.name}'s listener did not start")


async def caught_up(side: Side, chain: Chain, within: float = 120) -> None:
    head = int(await chain.call("eth_blockNumber"), 16)
    deadline = time.monotonic() + within
    while await head_of(side.env["DATABASE_URL"]) < head:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{side.name}'s listener never reached block {head}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # its frames go out

"""Tx mined → subscriber, ours against Ponder (bench/ponder.py `--latency N`).

Ours: `dpo listener` on the backfilled database, once woken by the RPC's newHeads over
WebSocket (a ws:// URL) and once polling over HTTP (LISTENER_POLL_INTERVAL, default 1 s), and
`dpo web`'s `events` subscription over WebSocket (graphql-transport-ws), signed in. Ponder:
the last backfill's process, whose real-time sync polls the node every second (1.0.0 has no
new-block push). Its live mechanism differs by line: 1.0.0's `/sql/live` is an event stream
that sends an empty message after each indexed block, and the client asks again (here the
generated GraphQL, for the transaction's events), so the time is taken when that answer holds
the transaction; 0.16's `/sql/live?sql=` pushes the live query's rows, taken when they hold it.

Each sample: one `issue` transaction, then `evm_mine`; "mined" is when evm_mine answered.
Samples are spaced by a random 0.5-1.5 s so that no poller's phase locks onto them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import ponder_backfill as backfill  # bench/ is the script's folder
from emitter import DEV_ADDRESS, INVESTORS, ISSUE, Chain, investor, tx, word  # bench/ folder
from ponder_install import uses_chains
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

SUBSCRIPTION = "subscription Live { events { node { txHash } } }"
PONDER_HAS = "query Has($tx: String!) { events(where: { txHash: $tx }, limit: 1) { items { id } } }"
LIVE_SQL = "select tx_hash from event order by block_number desc limit 5"


async def ours_feed(url: str, token: str, seen: dict[str, float], ready: asyncio.Event) -> None:
    """Our `events` subscription: the time each transaction's first event arrives."""
    async with ws_connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], compression=None
    ) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        if json.loads(await ws.recv()).get("type") != "connection_ack":
            raise RuntimeError("our subscription was refused")
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        )
        ready.set()
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("type") == "next" and not message["payload"].get("errors"):
                tx_hash = message["payload"]["data"]["events"]["node"]["txHash"].lower()
                seen.setdefault(tx_hash, now)
            elif message.get("type") in ("next", "error", "complete"):
                raise RuntimeError(f"our subscription ended: {json.dumps(message)[:300]}")


async def ponder_feed(
    base: str, version: str, pending: set[str], seen: dict[str, float], ready: asyncio.Event
) -> None:
    """Ponder's /sql/live: the time each pending transaction becomes visible to its client."""
    live_rows = uses_chains(version)
    params = {"sql": json.dumps({"json": {"sql": LIVE_SQL, "params": []}})} if live_rows else {}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", base + "/sql/live", params=params) as stream,
    ):
        if stream.status_code != 200:
            raise RuntimeError(f"/sql/live: {stream.status_code} {(await stream.aread())[:300]!r}")
        ready.set()
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            for tx_hash in [t for t in pending if t not in seen]:
                if live_rows:
                    if tx_hash in line.lower():
                        seen[tx_hash] = time.perf_counter()
                    continue
                body = {"query": PONDER_HAS, "variables": {"tx": tx_hash}}
                answer = (await client.post(base + "/graphql", json=body)).json()
                if answer["data"]["events"]["items"]:
                    seen[tx_hash] = time.perf_counter()


async def sample(
    rpc_url: str,
    issuance: str,
    count: int,
    sides: dict[str, dict[str, float]],
    pending: set[str],
    within: float = 10,
) -> dict[str, list[float]]:
    """`count` transactions, each mined alone; the latency of each side in ms."""
    chain = Chain(rpc_url)
    rng = random.Random(16)  # noqa: S311 - spacing, not cryptography
    latencies: dict[str, list[float]] = {side: [] for side in sides}
    try:
        nonce = int(await chain.call("eth_getTransactionCount", [DEV_ADDRESS, "pending"]), 16)
        for n in range(count):
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            ref = 10**15 + nonce  # the emitter's references stay below this
            to = word(int(investor(n % INVESTORS), 16))
            data = "0x" + ISSUE + to + word(100) + word(1) + word(ref)
            (tx_hash,) = await chain.batch([tx(issuance, data, nonce)])
            nonce += 1
            await chain.call("evm_mine")
            mined = time.perf_counter()
            tx_hash = str(tx_hash).lower()
            pending.add(tx_hash)
            deadline = mined + within
            # The feeds stamp their own arrival times; this only waits for both.
            while time.perf_counter() < deadline and any(tx_hash not in s for s in sides.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            for side, seen in sides.items():
                if tx_hash in seen:
                    latencies[side].append((seen[tx_hash] - mined) * 1000)
    finally:
        await chain.http.aclose()
    return latencies


def summary(values: list[float], samples: int) -> dict[str, Any]:
    """p50, p99 and max of one side's latencies, and how many never arrived within 10 s."""
    figures: dict[str, Any] = {"samples": len(values), "missed": samples - len(values)}
    if len(values) >= 2:
        figures.update(
            p50_ms=round(statistics.median(values), 1),
            p99_ms=round(statistics.quantiles(values, n=100, method="inclusive")[98], 1),
            max_ms=round(max(values), 1),
        )
    return figures


async def one_mode(
    rpc_url: str,
    issuance: str,
    ws_url: str,
    token: str,
    ponder_base: str,
    version: str,
    samples: int,
) -> dict[str, dict[str, Any]]:
    """Both subscribers connected, one warm-up transaction, then `samples` measured."""
    sides: dict[str, dict[str, float]] = {"ours": {}, "ponder": {}}
    pending: set[str] = set()
    ready = {side: asyncio.Event() for side in sides}
    tasks = [
        asyncio.create_task(ours_feed(ws_url, token, sides["ours"], ready["ours"])),
        asyncio.create_task(
            ponder_feed(ponder_base, version, pending, sides["ponder"], ready["ponder"])
        ),
    ]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(event.wait() for event in ready.values()))
        # Warm-up, until both follow the chain (our listener may still be starting).
        await sample(rpc_url, issuance, 1, sides, pending, within=120)
        latencies = await sample(rpc_url, issuance, samples, sides, pending)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {side: summary(values, samples) for side, values in latencies.items()}


def run(
    rpc_url: str,
    redis_url: str,
    ours_url: str,
    addresses: dict[str, str],
    web_base: str,
    token: str,
    ponder: backfill.Running,
    version: str,
    samples: int,
    logs: Path,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Our listener woken by newHeads, then polling every second; Ponder beside each."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    ws_url = web_base.replace("http://", "ws://", 1) + "/graphql"
    for mode, url in (("newHeads", rpc_url.replace("http://", "ws://", 1)), ("poll", rpc_url)):
        log = logs / f"ours-latency-{mode}.log"
        listener = backfill.start_ours(ours_url, redis_url, url, addresses, log)
        try:
            results[mode] = asyncio.run(
                one_mode(
                    rpc_url,
                    addresses["ISSUANCE_CONTRACT_ADDRESS"],
                    ws_url,
                    token,
                    ponder.base,
                    version,
                    samples,
                )
            )
        finally:
            backfill.stop(listener)
        print(f"latency, our listener on {mode}: {json.dumps(results[mode])}", flush=True)
    return results

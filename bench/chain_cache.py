"""An emitted bench chain kept on disk between runs: anvil's state dump and its addresses.

Emitting a million events takes anvil tens of minutes; the chain it ends with is the same
every time. So the first run deploys and emits into an anvil started with `--state` (dump at
stop) and records the addresses, the head and the hashes of blocks 0 and of the head once the
emission is complete; every run then starts anvil from the dump in seconds, read only
(`--load-state`). Loading with `--state` instead wrote the dump back at each stop with that
start's own genesis block added, so that after a run or two a load could serve a block 0 that
block 1 does not follow, and the listener refused the range and retried forever. The loaded
chain is checked against the record before it is used: a mismatch raises at once. A folder
without `chain.json`, or with one from before the hashes were recorded, is emitted anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from emitter import emit

from dpo.chain.deploy import deploy_all
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil
from dpo.embedded.process import free_port

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".dpo" / "bench" / "chains"
RECORDED = ("addresses", "events", "blocks", "emit_seconds", "head", "genesis", "head_hash")


class ChainCacheError(RuntimeError):
    """The loaded chain is not the one recorded at emission."""


@dataclass(frozen=True)
class CachedChain:
    """A running anvil serving the emitted chain."""

    rpc_url: str
    addresses: dict[str, str]
    events: int
    blocks: int
    emit_seconds: float  # when it was first emitted
    anvil: EmbeddedAnvil


@contextlib.contextmanager
def cached_chain(
    events: int,
    tx_per_block: int,
    cache: Path = CACHE,
    *,
    fresh: bool = False,
    empty_blocks: int = 0,
) -> Iterator[CachedChain]:
    """anvil serving `events` events at `tx_per_block` transactions a block (after
    `empty_blocks` empty blocks each); emitted if new."""
    folder = cache / (f"{events}x{tx_per_block}" + (f"+{empty_blocks}" if empty_blocks else ""))
    record = folder / "chain.json"
    if fresh or not record.exists() or set(RECORDED) - set(json.loads(record.read_text())):
        shutil.rmtree(folder, ignore_errors=True)
        emitted = _emit(folder, events, tx_per_block, empty_blocks)
        # Recorded only once anvil has written its dump: a killed emission is done anew.
        record.write_text(json.dumps(emitted))
    known = json.loads(record.read_text())
    anvil = EmbeddedAnvil(
        folder / "run",
        free_port(),
        persist=False,
        prune_history=True,
        load_state=folder / "state.json",
    )
    started = time.perf_counter()
    rpc_url = anvil.start()
    try:
        verify(rpc_url, known)
        print(f"chain from {folder} (anvil up in {time.perf_counter() - started:.0f}s)", flush=True)
        yield CachedChain(
            rpc_url,
            known["addresses"],
            known["events"],
            known["blocks"],
            known["emit_seconds"],
            anvil,
        )
    finally:
        anvil.stop()


def landmarks(rpc_url: str) -> dict[str, Any]:
    """The head's number and the hashes a loaded chain must have: block 0's, block 1's
    parent and the head's."""
    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0x0", False]},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["0x1", False]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockByNumber", "params": ["latest", False]},
    ]
    answers = {a["id"]: a["result"] for a in httpx.post(rpc_url, json=body, timeout=60).json()}
    if answers[2] is not None and answers[2]["parentHash"] != answers[1]["hash"]:
        raise ChainCacheError(f"block 1 does not follow block 0 {answers[1]['hash']}")
    return {
        "head": int(answers[3]["number"], 16),
        "genesis": answers[1]["hash"],
        "head_hash": answers[3]["hash"],
    }


def verify(rpc_url: str, known: dict[str, Any]) -> None:
    """Raise ChainCacheError unless the served chain is the recorded one."""
    served = landmarks(rpc_url)
    wanted = {key: known[key] for key in served}
    if served != wanted:
        raise ChainCacheError(f"the loaded chain is {served}, the recorded one {wanted}")


def _emit(folder: Path, events: int, tx_per_block: int, empty_blocks: int) -> dict[str, Any]:
    """Deploy and emit into a new anvil that dumps its state into `folder` when stopped."""
    anvil = EmbeddedAnvil(folder, free_port(), persist=True, prune_history=True)
    rpc_url = anvil.start()
    try:
        addresses = asyncio.run(deploy_all(rpc_url, DEV_PRIVATE_KEY))
        t0 = time.perf_counter()
        blocks = asyncio.run(emit(rpc_url, addresses, events, tx_per_block, empty_blocks))
        seconds = time.perf_counter() - t0
        marks = landmarks(rpc_url)
    finally:
        anvil.stop()
    print(
        f"emitted {events:,} events in {blocks:,} blocks in {seconds:.0f}s "
        f"({events / seconds:,.0f} events/s); kept in {folder}",
        flush=True,
    )
    return {
        "addresses": addresses,
        "events": events,
        "blocks": blocks,
        "emit_seconds": seconds,
        **marks,
    }

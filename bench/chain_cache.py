"""An emitted bench chain kept on disk between runs: anvil's state dump and its addresses.

Emitting a million events takes anvil tens of minutes; the chain it ends with is the same
every time. So the first run deploys and emits into an anvil started with `--state` (load
at start, dump at stop) and records the addresses once the emission is complete; later runs
start anvil from the dump in seconds. A folder without `chain.json` (an emission that did
not finish) is emitted anew.
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

from emitter import emit

from dpo.chain.deploy import deploy_all
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil
from dpo.embedded.process import free_port

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".dpo" / "bench" / "chains"


@dataclass(frozen=True)
class CachedChain:
    """A running anvil serving the emitted chain."""

    rpc_url: str
    addresses: dict[str, str]
    events: int
    blocks: int
    emit_seconds: float  # when it was first emitted


@contextlib.contextmanager
def cached_chain(
    events: int, tx_per_block: int, cache: Path = CACHE, *, fresh: bool = False
) -> Iterator[CachedChain]:
    """anvil serving `events` events at `tx_per_block` transactions a block; emitted if new."""
    folder = cache / f"{events}x{tx_per_block}"
    record = folder / "chain.json"
    if fresh or not record.exists():
        shutil.rmtree(folder, ignore_errors=True)
        emitted = _emit(folder, events, tx_per_block)
        # Recorded only once anvil has written its dump: a killed emission is done anew.
        record.write_text(json.dumps(emitted))
    known = json.loads(record.read_text())
    anvil = EmbeddedAnvil(folder, free_port(), persist=True, prune_history=True)
    started = time.perf_counter()
    rpc_url = anvil.start()
    print(f"chain from {folder} (anvil up in {time.perf_counter() - started:.0f}s)", flush=True)
    try:
        yield CachedChain(
            rpc_url, known["addresses"], known["events"], known["blocks"], known["emit_seconds"]
        )
    finally:
        anvil.stop()


def _emit(folder: Path, events: int, tx_per_block: int) -> dict[str, Any]:
    """Deploy and emit into a new anvil that dumps its state into `folder` when stopped."""
    anvil = EmbeddedAnvil(folder, free_port(), persist=True, prune_history=True)
    rpc_url = anvil.start()
    try:
        addresses = asyncio.run(deploy_all(rpc_url, DEV_PRIVATE_KEY))
        t0 = time.perf_counter()
        blocks = asyncio.run(emit(rpc_url, addresses, events, tx_per_block))
        seconds = time.perf_counter() - t0
    finally:
        anvil.stop()
    print(
        f"emitted {events:,} events in {blocks:,} blocks in {seconds:.0f}s "
        f"({events / seconds:,.0f} events/s); kept in {folder}",
        flush=True,
    )
    return {"addresses": addresses, "events": events, "blocks": blocks, "emit_seconds": seconds}

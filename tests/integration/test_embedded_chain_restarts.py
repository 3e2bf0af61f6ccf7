"""The embedded dev chain (`make run`, `dpo up`) keeps its blocks across restarts, and the
block 0 it serves is the one block 1 follows each time (anvil's `--state` used to add each
start's own genesis to the dump, and a later load could serve that one)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dpo.embedded.anvil import EmbeddedAnvil, rpc_call
from dpo.embedded.process import free_port


def _block(url: str, number: str) -> dict[str, Any]:
    block = rpc_call(url, "eth_getBlockByNumber", [number, False])
    assert isinstance(block, dict), block
    return block


def _next_second() -> None:
    # A genesis is stamped in whole seconds: two starts in one second would build the same one.
    second = int(time.time())
    while int(time.time()) == second:
        time.sleep(0.05)


def test_restarts_keep_the_head_and_a_block_0_that_block_1_follows(tmp_path: Path) -> None:
    _restart(tmp_path / "anvil", free_port(), starts=6, genesis=None, head=0)


def test_a_dump_from_before_the_genesis_record_keeps_its_block_0(tmp_path: Path) -> None:
    folder, port = tmp_path / "anvil", free_port()
    chain = EmbeddedAnvil(folder, port)
    url = chain.start()
    genesis = _block(url, "0x0")["hash"]
    rpc_call(url, "anvil_mine", ["0x2"])
    chain.stop()
    (folder / "genesis_timestamp").unlink()  # as a chain persisted before the record
    _restart(folder, port, starts=8, genesis=genesis, head=2)


def _restart(folder: Path, port: int, *, starts: int, genesis: str | None, head: int) -> None:
    """Start, check and mine 3 blocks `starts` times, each start in a new second."""
    for start in range(starts):
        _next_second()
        chain = EmbeddedAnvil(folder, port)
        url = chain.start()
        try:
            assert int(str(rpc_call(url, "eth_blockNumber")), 16) == head, start
            served = _block(url, "0x0")["hash"]
            genesis = genesis or served
            assert served == genesis, start
            if head:
                assert _block(url, "0x1")["parentHash"] == served, start
            rpc_call(url, "anvil_mine", ["0x3"])
            head += 3
            newest = _block(url, "latest")
            # The clock is the wall clock again, not the genesis time the start passed.
            assert int(newest["timestamp"], 16) >= int(time.time()) - 60
        finally:
            chain.stop()

"""bench/chain_cache.py: an emitted chain loaded from its dump is the chain that was emitted.

A dump loaded with anvil's `--state` was written back at each stop with that start's genesis
block added; a later load could serve a block 0 that block 1 does not follow, which the
listener refuses (and retries forever, so the bench hung). The cache now loads read only and
checks the loaded chain against its record. These cases emit a small chain, load it more than
once, and run the listener's own range fetch and consistency check over all of it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from listener.fetch import check_consistent, fetch_range
from listener.ranges import RangeSizer
from listener.rpc import RpcClient

BENCH = Path(__file__).resolve().parents[3] / "bench"
EVENTS, PER_BLOCK = 300, 40


@pytest.fixture(scope="module")
def chain_cache() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts importing each other
    try:
        yield importlib.import_module("chain_cache")
    finally:
        sys.path.remove(str(BENCH))


async def listener_fetch(url: str, addresses: list[str]) -> tuple[int, int]:
    """The listener's fetch of blocks 0..head, every header included, and its check."""
    rpc = RpcClient(urls=[url], timeout=30)
    try:
        head = await rpc.block_number()
        fetched = await fetch_range(
            rpc, RangeSizer(initial=head + 1, maximum=head + 1), addresses, 0, head, 0
        )
        check_consistent(fetched)  # raises ChainMovedError if block 0 is not block 1's parent
    finally:
        await rpc.aclose()
    return len(fetched.headers), len(fetched.logs)


def test_a_cached_chain_loads_as_emitted_every_time(
    chain_cache: ModuleType, tmp_path: Path
) -> None:
    with chain_cache.cached_chain(EVENTS, PER_BLOCK, tmp_path) as first:
        addresses = list(first.addresses.values())
        emitted = asyncio.run(listener_fetch(first.rpc_url, addresses))
    folder = tmp_path / f"{EVENTS}x{PER_BLOCK}"
    dump = (folder / "state.json").read_bytes()
    record = json.loads((folder / "chain.json").read_text())
    for _ in range(3):
        with chain_cache.cached_chain(EVENTS, PER_BLOCK, tmp_path) as again:
            assert again.addresses == first.addresses
            assert asyncio.run(listener_fetch(again.rpc_url, addresses)) == emitted
        assert (folder / "state.json").read_bytes() == dump  # a load writes nothing back
    headers, logs = emitted
    assert headers == record["head"] + 1
    assert logs >= EVENTS


def test_a_chain_unlike_its_record_is_refused(chain_cache: ModuleType, tmp_path: Path) -> None:
    with chain_cache.cached_chain(EVENTS, PER_BLOCK, tmp_path):
        pass
    record_path = tmp_path / f"{EVENTS}x{PER_BLOCK}" / "chain.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps(record | {"genesis": "0x" + "ab" * 32}))
    with (
        pytest.raises(chain_cache.ChainCacheError, match="recorded"),
        chain_cache.cached_chain(EVENTS, PER_BLOCK, tmp_path),
    ):
        pytest.fail("a chain unlike its record was served")

"""bench/ingest_process.py stops a backfill whose listener makes no headway, with its log.

A listener that refuses the chain's answers retries without end; the bench waited for a head
it never reached. Here the head asked for is past the chain's, so the real `dpo listener`
commits what there is and then stays put: the backfill raises within its stall allowance.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
# Seconds without a new checkpoint; the listener's start on a loaded machine (imports,
# connections, before its first commit) counts too, so not too few.
STALL = 15.0


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, ModuleType]]:
    sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts importing each other
    try:
        yield {name: importlib.import_module(name) for name in ("chain_cache", "ingest_process")}
    finally:
        sys.path.remove(str(BENCH))


async def drop(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def test_a_listener_that_stops_short_of_the_head_stops_the_run(
    bench: dict[str, ModuleType], tmp_path: Path, pg_server_url: str, redis_url: str
) -> None:
    chain_cache, ingest_process = bench["chain_cache"], bench["ingest_process"]
    stack = ingest_process.Stack(scratch=tmp_path, database_url=pg_server_url, redis_url=redis_url)
    name = f"dpo_bench_stuck_{uuid.uuid4().hex[:8]}"
    with chain_cache.cached_chain(200, 40, tmp_path / "chains") as chain:
        stack.rpc_url = chain.rpc_url
        head = asyncio.run(ingest_process.chain_head(chain.rpc_url))
        try:
            with pytest.raises(RuntimeError, match=f"stuck at block {head}"):
                asyncio.run(
                    ingest_process.backfill(
                        "ours", None, stack, chain.addresses, head + 10, 0, STALL, database=name
                    )
                )
        finally:
            asyncio.run(drop(pg_server_url, name))

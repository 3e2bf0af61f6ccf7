"""Nodes behind the chain answer for blocks they have not seen: nothing of it may be committed.

The fault proxy plays a node `n` blocks behind anvil (`lag:<n>`: older head, no header above
it, eth_getLogs clamped to it) or one that lost its receipts (`empty`), mixed with the other
faults. Whatever it answers, the end state must equal a clean run in every table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from web3 import AsyncHTTPProvider, AsyncWeb3

from listener import metrics
from listener.bloom import AddressBloom, parse_bloom
from listener.rpc import RpcClient
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import (
    Running,
    Sessions,
    chain,
    databases,
    head,
    history,
    make_follower,
    mine,
    with_offering,
)
from tests.support.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.needs_chain

__all__ = ["chain", "databases"]

# Columns whose values depend on feed numbering, wall time or seeding, not on the chain.
VOLATILE = {
    "id",
    "removes_id",
    "created_at",
    "updated_at",
    "removed_at",
    "chain_event_id",
    "event_id",
    "received_at",
    "isin",
}
SKIPPED_TABLES = {"alembic_version", "feed_sequence"}


async def every_table(sessions: Sessions) -> dict[str, list[tuple[str, ...]]]:
    """Every table's rows (as text, sorted), feed ids and wall-clock columns left out.

    chain_events: live events only (a clean run has no removed rows or removal items).
    """
    tables: dict[str, list[tuple[str, ...]]] = {}
    async with sessions() as session:
        columns = (
            await session.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
                )
            )
        ).all()
        by_table: dict[str, list[str]] = {}
        for table, column in columns:
            if table not in SKIPPED_TABLES and column not in VOLATILE:
                by_table.setdefault(str(table), []).append(str(column))
        for table, names in by_table.items():
            where = " WHERE NOT removed AND removes_id IS NULL" if table == "chain_events" else ""
            listed = ", ".join(f'"{n}"::text' for n in names)
            # Names from information_schema, quoted: not input.
            query = f'SELECT {listed} FROM "{table}"{where}'  # noqa: S608
            rows = (await session.execute(text(query))).all()
            tables[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return tables


async def clean_tables(
    anvil_url: str,
    deployed: dict[str, str],
    databases: Callable[[], Awaitable[Sessions]],
    w3: AsyncWeb3[AsyncHTTPProvider],
    **config: Any,
) -> dict[str, list[tuple[str, ...]]]:
    """Every table after a clean backfill of the current chain (follower `config` as given)."""
    sessions = await with_offering(await databases(), deployed)
    running = Running(
        make_follower(anvil_url, deployed, sessions, batch_blocks=50, max_batch_blocks=50, **config)
    )
    number, hash_ = await head(w3)
    await running.reach(number, hash_=hash_)
    await running.finish()
    return await every_table(sessions)


def refused(reason: str) -> float:
    """`dpo_rpc_inconsistent_total{reason}` now."""
    value: float = metrics.RPC_INCONSISTENT.labels(reason=reason)._value.get()
    return value


def fast_client(*urls: str, **options: Any) -> RpcClient:
    """An RPC client with short timeouts and backoffs, for faults that come often."""
    return RpcClient(urls=list(urls), timeout=1.0, backoff_base=0.01, backoff_cap=0.05, **options)


async def test_a_lagging_answer_in_backfill_is_refused_and_nothing_is_lost(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    await history(chain, 8)
    number, hash_ = await head(chain.w3)
    sessions = await with_offering(await databases(), deployed)
    missing_before = refused("missing_logs")
    async with FaultyProxy(anvil_url, seed=3) as proxy:
        # The issue's case first (the first ranges answered by a node 2 blocks behind, then
        # by one without receipts), then lagging and empty answers mixed with other faults.
        proxy.set_plan(["lag:2", "empty", "lag:6", "empty"], method="eth_getLogs")
        proxy.set_plan(["lag:6", "lag:2"], method="batch")  # header batches from that node
        proxy.set_rates(
            {
                "lag:2": 0.15,
                "lag:9": 0.1,
                "empty": 0.1,
                "500": 0.04,
                "truncate": 0.03,
                "429:0": 0.03,
            },
            seed=3,
        )
        rpc = fast_client(proxy.url)
        running = Running(
            make_follower(
                anvil_url, deployed, sessions, rpc=rpc, batch_blocks=6, max_batch_blocks=12
            )
        )
        await running.reach(number, hash_=hash_, within=120)
        await running.finish()
        await rpc.aclose()
        assert proxy.faults_injected["lag"] >= 4
        assert proxy.faults_injected["empty"] >= 2
        assert proxy.requests_seen["batch"] >= 2
        assert proxy.pending == 0
    assert await every_table(sessions) == await clean_tables(
        anvil_url, deployed, databases, chain.w3
    )
    assert refused("missing_logs") > missing_before


async def test_lagging_answers_while_following_the_head_are_refused(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    holders = [await chain.investor(tokens=50) for _ in range(2)]
    async with FaultyProxy(anvil_url, seed=5) as proxy:
        rpc = fast_client(proxy.url)
        running = Running(make_follower(anvil_url, deployed, sessions, rpc=rpc))
        number, hash_ = await head(chain.w3)
        await running.reach(number, hash_=hash_)
        # Now every method may be answered by a node 1-4 blocks behind, among other faults.
        proxy.set_rates(
            {"lag:1": 0.2, "lag:4": 0.15, "empty": 0.1, "500": 0.03, "cut": 0.02}, seed=5
        )
        for i in range(12):
            await chain.send(chain.token.functions.issue(holders[i % 2], 3 + i, 0, ref()))
            await chain.send(
                chain.token.functions.transfer(holders[(i + 1) % 2], 1), holders[i % 2]
            )
            await asyncio.sleep(0.05)
        number, hash_ = await head(chain.w3)
        await running.reach(number, hash_=hash_, within=120)
        await running.finish()
        await rpc.aclose()
        assert proxy.faults_injected["lag"] >= 5
    assert await every_table(sessions) == await clean_tables(
        anvil_url, deployed, databases, chain.w3
    )


async def test_one_url_lagging_5_to_50_blocks_across_failover(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    await history(chain, 4)
    sessions = await with_offering(await databases(), deployed)
    holder = await chain.investor(tokens=20)
    async with (
        FaultyProxy(anvil_url, seed=7) as quicknode,
        FaultyProxy(anvil_url, seed=8) as fallback,
    ):
        # QUICKNODE_URL (first) lags 5-50 blocks for the whole test and fails now and then,
        # so the client fails over to BLOCKCHAIN_RPC_URL and comes back after its cool-down.
        quicknode.set_rates({"lag:5": 0.3, "lag:20": 0.3, "lag:50": 0.3, "500": 0.1}, seed=7)
        fallback.set_rates({"500": 0.05}, seed=8)
        rpc = fast_client(quicknode.url, fallback.url, failover_after=2, cooldown=0.3)
        running = Running(
            make_follower(
                anvil_url, deployed, sessions, rpc=rpc, batch_blocks=4, max_batch_blocks=8
            )
        )
        for i in range(10):
            await chain.send(chain.token.functions.issue(holder, 1 + i, 0, ref()))
            await mine(chain.w3, 3)
            await asyncio.sleep(0.1)
        number, hash_ = await head(chain.w3)
        await running.reach(number, hash_=hash_, within=120)
        await running.finish()
        await rpc.aclose()
        assert quicknode.faults_injected["lag"] >= 20
        assert quicknode.requests_seen["eth_getLogs"] > 0
        assert fallback.requests_seen["eth_getLogs"] > 0
    assert await every_table(sessions) == await clean_tables(
        anvil_url, deployed, databases, chain.w3
    )


async def test_our_bloom_bits_are_the_nodes(
    deployed: dict[str, str],
    chain: Chain,
) -> None:
    """Every block with a log of ours has its address in the header's logsBloom."""
    await history(chain, 2)
    number, _ = await head(chain.w3)
    ours = [a.lower() for a in deployed.values()]
    with_logs = 0
    for n in range(number + 1):
        block = await chain.w3.eth.get_block(n)
        bloom = parse_bloom(bytes(block["logsBloom"]))
        assert bloom is not None
        logs = await chain.w3.eth.get_logs({"fromBlock": n, "toBlock": n})
        for address in {str(log["address"]).lower() for log in logs}:
            assert AddressBloom([address]).may_log(bloom), (n, address)
            with_logs += 1
        if not logs:
            assert bloom == 0
            assert not AddressBloom(ours).may_log(bloom)
    assert with_logs > 5

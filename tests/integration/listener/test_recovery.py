"""Recovery: a reorg exactly as deep as the window, database faults mid-batch, resuming clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy import text

from dpo.db.session import create_engine, session_factory
from listener import metrics, store
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import (
    ANVIL_CHAIN_ID,
    Running,
    Sessions,
    chain,
    databases,
    head,
    history,
    make_follower,
    reorg,
    with_offering,
)
from tests.integration.listener.test_lagging_nodes import clean_tables, every_table

pytestmark = pytest.mark.needs_chain

__all__ = ["chain", "databases"]


def database_name(sessions: Sessions) -> str:
    """The name of the database behind a session factory."""
    bind = sessions.kw["bind"]
    name = bind.url.database
    assert isinstance(name, str)
    return name


async def kept_headers(sessions: Sessions) -> list[int]:
    """The block numbers of the kept reorg window."""
    async with sessions() as session:
        rows = (
            await session.execute(text("SELECT number FROM listener_blocks ORDER BY number"))
        ).all()
    return [int(r[0]) for r in rows]


async def feed_rows(sessions: Sessions) -> list[tuple[int, int | None, bool]]:
    """Every feed item as replayed now: (sequence, removesSequence, removed)."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text("SELECT id, removes_id, removed FROM chain_events ORDER BY id")
            )
        ).all()
    return [(int(r[0]), None if r[1] is None else int(r[1]), bool(r[2])) for r in rows]


@pytest.mark.parametrize("window", [4])
async def test_a_reorg_exactly_as_deep_as_the_window_after_a_catch_up_is_reverted(
    window: int,
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    sessions = await with_offering(await databases(), deployed)
    holder = await chain.investor(tokens=100)
    other = await chain.investor()
    await history(chain, 3)  # blocks where the holder's position does not change
    for _ in range(window):
        await chain.send(chain.token.functions.issue(holder, 5, 0, ref()))
    number, hash_ = await head(chain.w3)
    # A catch-up of many blocks in one range, as after a restart.
    running = Running(
        make_follower(
            anvil_url, deployed, sessions, reorg_window=window, batch_blocks=64, max_batch_blocks=64
        )
    )
    await running.reach(number, hash_=hash_)
    assert await kept_headers(sessions) == list(range(number - window, number + 1))
    live_before = {row[0] for row in await feed_rows(sessions)}

    data = chain.token.encode_abi("issue", args=[other, 77, 0, ref()])
    await reorg(chain, window, [(chain.token.address, data)])
    new_number, new_hash = await head(chain.w3)
    assert new_number == number
    await running.reach(new_number, hash_=new_hash)
    await running.finish()
    # Every table equals a clean run, positions' as_of_block/as_of_time included (the
    # holder's are those of its last change before the replaced blocks).
    assert await every_table(sessions) == await clean_tables(
        anvil_url, deployed, databases, chain.w3, reorg_window=window
    )

    # Feed items are never changed for a client that keys on removesSequence: whatever
    # cursor it resumes from, applying "add" items and "remove removesSequence" items in
    # feed order gives the live events. (A replayed original carries `removed: true` where the
    # live delivery said false; docs/SUBSCRIPTIONS.md tells clients to key on removesSequence.)
    items = await feed_rows(sessions)
    live = {seq for seq, removes, removed in items if removes is None and not removed}
    removals = [removes for _, removes, _ in items if removes is not None]
    assert sorted(removals) == sorted(live_before - live)
    assert len(removals) == len(set(removals))
    for cursor in range(items[-1][0] + 1):
        state: set[int] = set()
        for seq, removes, _ in items:  # delivered live up to the cursor, then replayed
            if removes is None:
                state.add(seq)
            else:
                assert removes in state, "a removal item comes after the item it removes"
                state.discard(removes)
        assert state == live, cursor


async def test_database_connections_killed_and_statements_timed_out_mid_batch_are_retried(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    pg_server_url: str,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    await history(chain, 10)
    number, hash_ = await head(chain.w3)
    sessions = await with_offering(await databases(), deployed)
    name = database_name(sessions)
    admin = await asyncpg.connect(pg_server_url)
    retries_before = metrics.DB_RETRIES._value.get()
    try:
        # Each batch lingers 50 ms at its checkpoint write, inside its transaction.
        await admin.execute(f'ALTER DATABASE "{name}" SET statement_timeout = 0')
        async with sessions() as session, session.begin():
            await session.execute(
                text(
                    "CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$"
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER linger AFTER INSERT OR UPDATE ON listener_checkpoints "
                    "FOR EACH STATEMENT EXECUTE FUNCTION linger()"
                )
            )

        async def mid_batch() -> list[int]:
            return [
                int(r[0])
                for r in await admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state IN "
                    "('active', 'idle in transaction')",
                    name,
                )
            ]

        # The follower's own engine: the test's pooled connections are killed too.
        url = sessions.kw["bind"].url.render_as_string(hide_password=False)
        engine = create_engine(url, pool_size=2)
        # A short poll interval keeps the backoff after repeated failures short.
        running = Running(
            make_follower(
                anvil_url,
                deployed,
                session_factory(engine),
                batch_blocks=2,
                max_batch_blocks=2,
                concurrency=2,
                poll_interval=0.01,
            )
        )
        killed = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while killed < 5:
            assert not running.task.done(), "the follower exited"
            assert loop.time() < deadline, f"only {killed} batches caught mid-transaction"
            for pid in await mid_batch():
                killed += bool(await admin.fetchval("SELECT pg_terminate_backend($1)", pid))
            await asyncio.sleep(0.005)
        # Then every statement times out for a while (new sessions take the setting).
        await admin.execute(f'ALTER DATABASE "{name}" SET statement_timeout = 20')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        timed_out = metrics.DB_RETRIES._value.get()
        await chain.send(chain.token.functions.issue(await chain.investor(), 9, 0, ref()))
        while metrics.DB_RETRIES._value.get() < timed_out + 2:  # statement timeouts, retried
            assert not running.task.done(), "the follower exited"
            assert loop.time() < deadline, "no statement timed out"
            await asyncio.sleep(0.05)
        await admin.execute(f'ALTER DATABASE "{name}" RESET statement_timeout')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        assert not running.task.done(), "the follower exited"
        await sessions.kw["bind"].dispose()
        number, hash_ = await head(chain.w3)
        # Polled on the test's engine: Running.reach reads through the follower's.
        while await store.checkpoint(sessions, ANVIL_CHAIN_ID) != (number, hash_):
            assert not running.task.done(), "the follower exited"
            assert loop.time() < deadline + 60, "the follower never reached the head"
            await asyncio.sleep(0.05)
        await running.finish()
        await engine.dispose()
    finally:
        await admin.close()
    assert metrics.DB_RETRIES._value.get() >= retries_before + killed
    async with sessions() as session, session.begin():
        await session.execute(text("DROP TRIGGER linger ON listener_checkpoints"))
    assert await store.checkpoint(sessions, ANVIL_CHAIN_ID) == (number, hash_)
    assert await every_table(sessions) == await clean_tables(
        anvil_url, deployed, databases, chain.w3
    )

"""A tip commit's round trips on a real PostgreSQL, read off the wire (tests/support/pg_wire).

The latency of a new block is mostly the commit's waits for PostgreSQL: these pin what one
commit sends, and that the one-statement path for a few rows (listener.store_write) and the
COPY path store the same rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.session import create_engine, session_factory
from dpo.db.urls import libpq_url
from listener.decode import DecodedLog
from listener.leader import LeadershipLostError, LockHolder, lock_key
from listener.projections import ProjectionError
from listener.store import checkpoint, ingest_batch, revert_to
from listener.store_write import COPY_FROM
from tests.integration.listener.test_store import (
    ALICE,
    BOB,
    CHAIN,
    POSITIONS,
    TOKEN,
    ZERO,
    batch,
    block_hash,
    history,
    rows,
    transfer,
)
from tests.support.pg_wire import PgWire

EXISTING_KEYS = "SELECT block_hash, tx_hash, log_index FROM chain_events"
# Every column; removed_at is the revert's now(), compared as set or not.
ALL_COLUMNS = (
    "SELECT id, chain_id, contract_address, contract_name, event_name, block_number, "
    "block_hash, block_timestamp, tx_hash, tx_index, log_index, args, removed, "
    "removed_at IS NOT NULL, removes_id FROM chain_events ORDER BY id"
)
NEVER, ALWAYS = 10**9, 0


def unprojected(number: int, log_index: int) -> DecodedLog:
    """An event kept in the feed only (no read model changes)."""
    return DecodedLog(
        chain_id=CHAIN,
        contract_address=TOKEN,
        contract_name="Issuance",
        event_name="InvestorVerified",
        block_number=number,
        block_hash=block_hash(number),
        tx_hash=f"0x{number:032x}{log_index:032x}",
        tx_index=log_index,
        log_index=log_index,
        args={"investor": ALICE},
    )


@pytest.fixture
async def wired(
    migrated_database: str,
) -> AsyncIterator[tuple[PgWire, async_sessionmaker[AsyncSession]]]:
    async with PgWire(migrated_database) as wire:
        engine = create_engine(wire.url(migrated_database), pool_size=1)
        factory = session_factory(engine)
        async with factory() as session, session.begin():
            await session.execute(text("INSERT INTO issuers (id, name) VALUES (1, 'Issuer')"))
            await session.execute(
                text(
                    "INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, "
                    "regulation, currency, unit_price, token_address) VALUES (1, 1, "
                    "'DE000A1B2C35', 'Bond', 'BND', 'debt', 'reg_s', 'EUR', 100, :t)"
                ),
                {"t": TOKEN},
            )
        yield wire, factory
        await engine.dispose()


def asked_for_keys(wire: PgWire) -> int:
    return sum(EXISTING_KEYS in sql for sql in wire.statements())


@pytest.mark.parametrize("copy_from", [COPY_FROM, ALWAYS])
async def test_a_batch_right_after_the_checkpoint_asks_for_no_stored_keys(
    wired: tuple[PgWire, async_sessionmaker[AsyncSession]], copy_from: int
) -> None:
    wire, sessions = wired
    await ingest_batch(sessions, batch(1, 2, history()[:2]), reorg_window=10)
    wire.reset()
    result = await ingest_batch(
        sessions, batch(3, 3, history()[2:]), reorg_window=10, copy_from=copy_from
    )
    assert result.inserted == 2
    assert asked_for_keys(wire) == 0
    # A batch repeating stored blocks still asks, and skips what is stored.
    wire.reset()
    again = await ingest_batch(
        sessions,
        batch(1, 4, [*history(), transfer(4, 0, ALICE, BOB, 1)]),
        reorg_window=10,
        copy_from=copy_from,
    )
    assert (again.inserted, again.skipped_duplicates) == (1, 4)
    assert asked_for_keys(wire) == 1


async def test_a_tip_commit_is_one_round_trip_or_its_projections_more(
    wired: tuple[PgWire, async_sessionmaker[AsyncSession]],
) -> None:
    wire, sessions = wired
    await ingest_batch(sessions, batch(1, 1, [transfer(1, 0, ZERO, ALICE, 5)]), reorg_window=10)
    # Each statement is prepared on its first use (a round trip), then reused.
    await ingest_batch(sessions, batch(2, 2, [unprojected(2, 0)]), reorg_window=10)
    await ingest_batch(sessions, batch(3, 3, [transfer(3, 0, ALICE, BOB, 1)]), reorg_window=10)
    wire.reset()
    await ingest_batch(
        sessions, batch(4, 4, [unprojected(4, i) for i in range(3)]), reorg_window=10
    )
    # One statement, its own transaction: headers, checkpoint, feed numbers and events.
    statements = wire.statements()
    assert (wire.round_trips, len(statements)) == (1, 1), statements
    assert "INSERT INTO chain_events" in statements[0]
    wire.reset()
    await ingest_batch(sessions, batch(5, 5, [transfer(5, 0, ALICE, BOB, 1)]), reorg_window=10)
    # A Transfer's positions (the offering, the rows read under lock, the upsert) are part of
    # the same statement: still one round trip, no BEGIN or COMMIT.
    statements = wire.statements()
    assert (wire.round_trips, len(statements)) == (1, 1), statements
    assert "INSERT INTO chain_events" in statements[0]
    assert "INSERT INTO positions" in statements[0]
    ids = [e[0] for e in await rows(sessions, "SELECT id FROM chain_events ORDER BY id")]
    assert ids == list(range(1, 8))
    assert await rows(sessions, POSITIONS) == [
        (BOB, 1, "onchain", 2, 0),
        (ALICE, 1, "onchain", 3, 0),
    ]
    # An invalid one (Alice holds 3) is refused by that statement, which changed nothing.
    before = await rows(sessions, "SELECT last_value FROM feed_sequence")
    wire.reset()
    with pytest.raises(ProjectionError):
        await ingest_batch(sessions, batch(6, 6, [transfer(6, 0, ALICE, BOB, 4)]), reorg_window=10)
    assert wire.round_trips == 1, wire.statements()
    assert await rows(sessions, "SELECT last_value FROM feed_sequence") == before
    assert await checkpoint(sessions, CHAIN) == (5, block_hash(5))
    assert await rows(sessions, "SELECT count(*) FROM chain_events") == [(7,)]


async def test_positions_with_other_read_models_are_one_statement(
    wired: tuple[PgWire, async_sessionmaker[AsyncSession]],
) -> None:
    wire, sessions = wired
    await ingest_batch(sessions, batch(1, 1, [transfer(1, 0, ZERO, ALICE, 5)]), reorg_window=10)

    def mixed(number: int) -> list[DecodedLog]:
        """A Transfer, a freeze and an STO event of another read model, in one block."""
        freeze = {"userAddress": ALICE, "amount": "1"}
        return [
            transfer(number, 0, ALICE, BOB, 1),
            replace(unprojected(number, 1), event_name="TokensFrozen", args=freeze),
            replace(
                unprojected(number, 2),
                contract_name="STO",
                event_name="OfferingClosed",
                args={"offeringId": "77"},
            ),
        ]

    await ingest_batch(sessions, batch(2, 2, mixed(2)), reorg_window=10)  # prepares statements
    wire.reset()
    result = await ingest_batch(sessions, batch(3, 3, mixed(3)), reorg_window=10)
    # BEGIN, the write, the offerings an STO event names, the positions, COMMIT.
    statements = wire.statements()
    assert wire.round_trips == 5, statements
    assert sum("positions" in sql for sql in statements) == 1, statements
    assert (result.projections.applied, result.projections.skipped) == (2, 1)
    assert await rows(sessions, POSITIONS) == [
        (BOB, 1, "onchain", 2, 0),
        (ALICE, 1, "onchain", 3, 2),
    ]


async def scenario(sessions: async_sessionmaker[AsyncSession], copy_from: int) -> dict[str, Any]:
    """Batches with duplicates, a failing one, a revert and another fork; what is stored."""
    results: list[tuple[int | None, ...]] = []
    for part in (
        batch(1, 2, history()[:2] + history()[:1]),
        batch(1, 4, [*history(), transfer(4, 0, ALICE, BOB, 1), unprojected(4, 1)]),
        batch(5, 5, [unprojected(5, i) for i in range(5)]),
    ):
        result = await ingest_batch(sessions, part, reorg_window=10, copy_from=copy_from)
        results.append((result.inserted, result.first_seq, result.last_seq))
        results.append((result.skipped_duplicates, result.projections.applied))
    bad = batch(6, 6, [transfer(6, 0, ALICE, BOB, 7)])
    with pytest.raises(ProjectionError):  # Alice holds 6: rolled back, nothing kept
        await ingest_batch(sessions, bad, reorg_window=10, copy_from=copy_from)
    reverted = await revert_to(sessions, chain_id=CHAIN, ancestor_number=3)
    results.append((reverted.removed, reverted.first_seq, reverted.last_seq))
    forked = batch(4, 4, [transfer(4, 0, BOB, ZERO, 1, fork=1)], fork=1, parent_fork=0)
    result = await ingest_batch(sessions, forked, reorg_window=10, copy_from=copy_from)
    results.append((result.inserted, result.first_seq, result.last_seq))
    return {
        "results": results,
        "events": await rows(sessions, ALL_COLUMNS),
        "positions": await rows(sessions, POSITIONS),
        "feed": await rows(sessions, "SELECT last_value FROM feed_sequence"),
        "checkpoint": await checkpoint(sessions, CHAIN),
        "blocks": await rows(
            sessions, "SELECT number, hash, parent_hash, timestamp FROM listener_blocks ORDER BY 1"
        ),
    }


async def test_the_few_rows_path_and_copy_store_the_same_rows(
    wired: tuple[PgWire, async_sessionmaker[AsyncSession]],
) -> None:
    wire, sessions = wired
    wire.reset()
    inserted = await scenario(sessions, NEVER)
    # The revert's removal items are always copied; no batch is.
    assert sum(sql.startswith("COPY") for sql in wire.statements()) == 1
    async with sessions() as session, session.begin():
        for table in ("positions", "chain_events", "listener_blocks", "listener_checkpoints"):
            await session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - constants
        await session.execute(text("UPDATE feed_sequence SET last_value = 0"))
    wire.reset()
    copied = await scenario(sessions, ALWAYS)
    assert sum(sql.startswith("COPY") for sql in wire.statements()) == 6  # 5 batches, 1 revert
    assert copied == inserted
    assert len(inserted["events"]) == 19
    assert inserted["checkpoint"] == (4, block_hash(4, 1))


async def test_the_fence_is_part_of_the_commit_and_refuses_a_lost_lock(
    wired: tuple[PgWire, async_sessionmaker[AsyncSession]], migrated_database: str
) -> None:
    wire, sessions = wired
    lock = await asyncpg.connect(libpq_url(migrated_database))  # the leader's, off the wire
    try:
        assert await lock.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(CHAIN))
        ours = LockHolder(lock.get_server_pid(), lock_key(CHAIN))
        await ingest_batch(
            sessions, batch(1, 1, [transfer(1, 0, ZERO, ALICE, 5)]), reorg_window=10, holder=ours
        )
        for number in (2, 3):  # prepares both shapes
            logs = [unprojected(number, 0)] if number == 2 else [transfer(3, 0, ALICE, BOB, 1)]
            await ingest_batch(sessions, batch(number, number, logs), reorg_window=10, holder=ours)
        wire.reset()
        await ingest_batch(sessions, batch(4, 4, [unprojected(4, 0)]), reorg_window=10, holder=ours)
        await ingest_batch(
            sessions, batch(5, 5, [transfer(5, 0, ALICE, BOB, 1)]), reorg_window=10, holder=ours
        )
        # The lock is asked for in the commit statement: no round trip of its own.
        statements = wire.statements()
        assert (wire.round_trips, len(statements)) == (2, 2), statements
        assert all("pg_locks" in sql for sql in statements)
        before = {
            "checkpoint": await checkpoint(sessions, CHAIN),
            "feed": await rows(sessions, "SELECT last_value FROM feed_sequence"),
            "positions": await rows(sessions, POSITIONS),
        }
        assert before["checkpoint"] == (5, block_hash(5))
        # Another key, another process, then our lock released: each commit is refused.
        other = LockHolder(ours.pid + 1, ours.key)
        for holder in (LockHolder(ours.pid, ours.key + 1), other, ours):
            if holder is ours:
                await lock.execute("SELECT pg_advisory_unlock_all()")
            for logs in ([unprojected(6, 0)], [transfer(6, 0, ALICE, BOB, 1)]):
                wire.reset()
                with pytest.raises(LeadershipLostError):
                    await ingest_batch(sessions, batch(6, 6, logs), reorg_window=10, holder=holder)
                assert wire.round_trips == 1, wire.statements()
            # The general path (a batch repeating stored blocks) asks under the checkpoint's lock.
            with pytest.raises(LeadershipLostError):
                await ingest_batch(
                    sessions, batch(5, 6, [unprojected(6, 0)]), reorg_window=10, holder=holder
                )
        assert {
            "checkpoint": await checkpoint(sessions, CHAIN),
            "feed": await rows(sessions, "SELECT last_value FROM feed_sequence"),
            "positions": await rows(sessions, POSITIONS),
        } == before
    finally:
        await lock.close()

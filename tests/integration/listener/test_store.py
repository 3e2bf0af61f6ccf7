"""ingest_batch / revert_to on a real PostgreSQL: exactly once, gap-free feed, atomic batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.channels import Channels
from dpo.db.session import create_engine, session_factory
from listener.decode import DecodedLog
from listener.projections import ProjectionError
from listener.publish import publish_feed
from listener.store import (
    Batch,
    BlockHeader,
    ReorgDetectedError,
    StoreError,
    checkpoint,
    ingest_batch,
    recent_blocks,
    revert_to,
)

CHAIN = 31337
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
ZERO = "0x" + "0" * 40


def block_hash(number: int, fork: int = 0) -> str:
    return f"0x{fork:02x}{number:062x}"


def header(number: int, fork: int = 0, parent_fork: int | None = None) -> BlockHeader:
    parent = block_hash(number - 1, fork if parent_fork is None else parent_fork)
    return BlockHeader(number, block_hash(number, fork), parent, 1_700_000_000 + number)


def transfer(
    number: int, log_index: int, sender: str, to: str, value: int, fork: int = 0
) -> DecodedLog:
    return DecodedLog(
        chain_id=CHAIN,
        contract_address=TOKEN,
        contract_name="Issuance",
        event_name="Transfer",
        block_number=number,
        block_hash=block_hash(number, fork),
        tx_hash=f"0x{fork:02x}{number:030x}{log_index:032x}",
        tx_index=0,
        log_index=log_index,
        args={"from": sender, "to": to, "value": str(value)},
    )


def batch(
    first: int, last: int, logs: list[DecodedLog], fork: int = 0, parent_fork: int | None = None
) -> Batch:
    blocks = [header(n, fork, parent_fork if n == first else None) for n in range(first, last + 1)]
    return Batch(CHAIN, first, last, blocks, logs)


@pytest.fixture
async def sessions(migrated_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated_database, pool_size=2)
    factory = session_factory(engine)
    async with factory() as session, session.begin():
        await session.execute(text("INSERT INTO issuers (id, name) VALUES (1, 'Issuer');"))
        await session.execute(
            text(
                "INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, "
                "regulation, currency, unit_price, token_address) VALUES (1, 1, 'DE000A1B2C35', "
                "'Bond', 'BND', 'debt', 'reg_s', 'EUR', 100, :t)"
            ),
            {"t": TOKEN},
        )
    yield factory
    await engine.dispose()


async def rows(sessions: async_sessionmaker[AsyncSession], sql: str) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        return [tuple(r) for r in (await session.execute(text(sql))).all()]


EVENTS = (
    "SELECT id, block_number, log_index, block_hash, removed, removes_id, event_name "
    "FROM chain_events ORDER BY id"
)
POSITIONS = (
    "SELECT holder_address, offering_id, location, quantity, frozen_quantity "
    "FROM positions ORDER BY holder_address"
)


async def state(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {
        "events": await rows(sessions, EVENTS),
        "positions": await rows(sessions, POSITIONS),
        "feed": await rows(sessions, "SELECT last_value FROM feed_sequence"),
        "checkpoint": await checkpoint(sessions, CHAIN),
        "blocks": await rows(sessions, "SELECT number, hash FROM listener_blocks ORDER BY 1"),
    }


def history() -> list[DecodedLog]:
    return [
        transfer(1, 0, ZERO, ALICE, 10),
        transfer(1, 1, ALICE, BOB, 4),
        transfer(3, 0, ZERO, BOB, 2**200),
        transfer(3, 5, BOB, ALICE, 1),
    ]


async def test_ingest_stores_events_in_block_and_log_order_with_gap_free_ids(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    logs = history()
    result = await ingest_batch(sessions, batch(1, 3, list(reversed(logs))), reorg_window=10)
    assert (result.inserted, result.first_seq, result.last_seq) == (4, 1, 4)
    assert result.skipped_duplicates == 0
    assert result.projections.applied == 4
    events = await rows(sessions, EVENTS)
    assert [(e[0], e[1], e[2]) for e in events] == [(1, 1, 0), (2, 1, 1), (3, 3, 0), (4, 3, 5)]
    assert await rows(sessions, POSITIONS) == [
        (BOB, 1, "onchain", 2**200 + 3, 0),
        (ALICE, 1, "onchain", 7, 0),
    ]
    assert await checkpoint(sessions, CHAIN) == (3, block_hash(3))
    args = await rows(sessions, "SELECT args FROM chain_events WHERE id = 3")
    assert args[0][0]["value"] == str(2**200)


async def test_replaying_a_batch_inserts_nothing_and_keeps_the_ids(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 3, history()), reorg_window=10)
    before = await state(sessions)
    again = await ingest_batch(sessions, batch(1, 3, history()), reorg_window=10)
    assert (again.inserted, again.first_seq, again.skipped_duplicates) == (0, None, 4)
    assert await state(sessions) == before


async def test_an_overlapping_batch_skips_stored_logs_without_burning_feed_ids(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 2, history()[:2]), reorg_window=10)
    # The checkpoint is at 2; a batch 1..4 repeats block 1's logs.
    result = await ingest_batch(
        sessions, batch(1, 4, [*history(), transfer(4, 0, ALICE, BOB, 1)]), reorg_window=10
    )
    assert (result.inserted, result.skipped_duplicates) == (3, 2)
    assert (result.first_seq, result.last_seq) == (3, 5)
    ids = [e[0] for e in await rows(sessions, EVENTS)]
    assert ids == [1, 2, 3, 4, 5]
    assert await rows(sessions, "SELECT last_value FROM feed_sequence") == [(5,)]


async def test_a_failing_projection_leaves_nothing_behind(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 3, history()), reorg_window=10)
    before = await state(sessions)
    # Alice holds 7: moving 8 is a missed event somewhere, and must roll the batch back.
    bad = batch(4, 5, [transfer(4, 0, ZERO, BOB, 1), transfer(5, 0, ALICE, BOB, 8)])
    with pytest.raises(ProjectionError):
        await ingest_batch(sessions, bad, reorg_window=10)
    assert await state(sessions) == before


async def test_revert_removes_appends_removals_newest_first_and_restores_projections(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 2, history()[:2]), reorg_window=10)
    before = await state(sessions)
    await ingest_batch(sessions, batch(3, 4, history()[2:]), reorg_window=10)
    result = await revert_to(sessions, chain_id=CHAIN, ancestor_number=2)
    assert (result.removed, result.first_seq, result.last_seq) == (2, 5, 6)
    assert result.projections.applied == 2
    events = await rows(sessions, EVENTS)
    assert [(e[0], e[4], e[5]) for e in events] == [
        (1, False, None),
        (2, False, None),
        (3, True, None),
        (4, True, None),
        (5, True, 4),
        (6, True, 3),
    ]
    # Removal items repeat every field of the removed event, so filters apply to them too.
    same = (
        "SELECT chain_id, contract_address, contract_name, event_name, block_number, "
        "block_hash, block_timestamp, tx_hash, tx_index, log_index, args FROM chain_events "
    )
    originals = await rows(sessions, same + "WHERE id IN (4, 3) ORDER BY id DESC")
    removals = await rows(sessions, same + "WHERE id IN (5, 6) ORDER BY id")
    assert removals == originals
    assert all(
        r[0] is not None
        for r in await rows(sessions, "SELECT removed_at FROM chain_events WHERE removed")
    )
    after = await state(sessions)
    assert after["positions"] == before["positions"]
    assert after["checkpoint"] == before["checkpoint"] == (2, block_hash(2))
    assert after["blocks"] == before["blocks"]
    assert await recent_blocks(sessions, CHAIN, 1) == [header(2)]


async def test_blocks_of_another_fork_after_a_revert_get_fresh_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 3, history()), reorg_window=10)
    forked = [transfer(3, 0, ZERO, BOB, 2**200, fork=1)]
    with pytest.raises(ReorgDetectedError):
        await ingest_batch(sessions, batch(3, 3, forked, fork=1, parent_fork=0), reorg_window=10)
    await revert_to(sessions, chain_id=CHAIN, ancestor_number=2)
    result = await ingest_batch(
        sessions, batch(3, 3, forked, fork=1, parent_fork=0), reorg_window=10
    )
    assert (result.inserted, result.first_seq) == (1, 7)
    live = await rows(
        sessions, "SELECT id, block_hash FROM chain_events WHERE NOT removed AND block_number = 3"
    )
    assert live == [(7, block_hash(3, 1))]
    assert await checkpoint(sessions, CHAIN) == (3, block_hash(3, 1))


async def test_a_batch_must_extend_the_checkpoint(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 2, history()[:2]), reorg_window=10)
    before = await state(sessions)
    with pytest.raises(StoreError, match="gap"):
        await ingest_batch(sessions, batch(5, 6, []), reorg_window=10)
    with pytest.raises(ReorgDetectedError):
        await ingest_batch(sessions, batch(3, 3, [], fork=2, parent_fork=2), reorg_window=10)
    removed = replace(transfer(3, 0, ZERO, BOB, 1), removed=True)
    with pytest.raises(ReorgDetectedError, match="removed"):
        await ingest_batch(sessions, batch(3, 3, [removed]), reorg_window=10)
    with pytest.raises(StoreError, match="header"):
        await ingest_batch(sessions, Batch(CHAIN, 3, 4, [header(3)], []), reorg_window=10)
    assert await state(sessions) == before


async def test_blocks_older_than_the_window_are_pruned(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 6, []), reorg_window=3)
    assert [b.number for b in await recent_blocks(sessions, CHAIN, 10)] == [6, 5, 4]
    with pytest.raises(StoreError, match="window"):
        await revert_to(sessions, chain_id=CHAIN, ancestor_number=2)
    assert await checkpoint(sessions, CHAIN) == (6, block_hash(6))
    # The next batch's headers come in and the ones that left the window go.
    await ingest_batch(sessions, batch(7, 8, []), reorg_window=3)
    assert [b.number for b in await recent_blocks(sessions, CHAIN, 10)] == [8, 7, 6]


async def test_publish_feed_sends_one_small_message_and_swallows_redis_failures(
    redis_client: aioredis.Redis,
) -> None:
    channel = Channels().feed
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=5)
    await publish_feed(redis_client, channel=channel, chain_id=CHAIN, first_seq=3, last_seq=9)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    assert message is not None
    assert json.loads(message["data"]) == {"chain_id": CHAIN, "first": 3, "last": 9}
    await pubsub.aclose()
    broken = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    await publish_feed(broken, channel=channel, chain_id=CHAIN, first_seq=1, last_seq=1)
    await broken.aclose()


async def test_racing_writers_of_one_batch_store_it_once_with_a_gap_free_feed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_batch(sessions, batch(1, 1, history()[:2]), reorg_window=10)
    racing = batch(2, 3, history()[2:])
    results = await asyncio.gather(
        *(ingest_batch(sessions, racing, reorg_window=10) for _ in range(3)),
        return_exceptions=True,
    )
    stored = [r for r in results if not isinstance(r, BaseException)]
    assert not [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, IntegrityError)
    ]
    assert sorted(r.inserted for r in stored)[-1] == 2
    assert sum(r.inserted for r in stored) == 2
    assert [e[0] for e in await rows(sessions, EVENTS)] == [1, 2, 3, 4]
    assert await rows(sessions, "SELECT last_value FROM feed_sequence") == [(4,)]

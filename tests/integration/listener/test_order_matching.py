"""Order events match their investments set-based: statements per batch, not per event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dpo.db.session import create_engine
from listener.decode import DecodedLog
from listener.projections import apply_events, revert_events
from listener.projections_common import ProjectionStats, StoredEvent

ORDERS = 60
TOKEN = "0x" + "12" * 20
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def ref(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
async def engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database, pool_size=1)
    async with engine.begin() as connection:
        for sql in (
            "INSERT INTO issuers (id, name) VALUES (1, 'Issuer')",
            "INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, regulation, "
            "currency, unit_price, token_address, onchain_offering_id, status) VALUES "
            "(1, 1, 'US0378331005', 'Bond', 'BND', 'debt', 'reg_s', 'EUR', 10, :token, 1, 'open')",
            "INSERT INTO investors (id, full_name, email, country) "
            "SELECT n, 'I' || n, 'i' || n || '@example.com', 'DE' FROM generate_series(1, 3) n",
            # Orders 1..ORDERS are paid; order 0 waits for its payment.
            "INSERT INTO investments (id, investor_id, offering_id, amount, currency, units, "
            "state, payment_reference, onchain_reference, paid_at) SELECT n, 1 + n % 3, 1, 10, "
            "'EUR', 1, CASE WHEN n = 0 THEN 'pending_payment' ELSE 'paid' END, 'P' || n, "
            "'0x' || lpad(to_hex(n), 64, '0'), CASE WHEN n > 0 THEN now() END "
            "FROM generate_series(0, :orders) n",
        ):
            await connection.execute(text(sql), {"token": TOKEN, "orders": ORDERS})
    yield engine
    await engine.dispose()


def issued(n: int) -> StoredEvent:
    args = {"to": TOKEN, "amount": "1", "offeringId": "1", "investmentRef": ref(n)}
    return stored(n, "Issuance", "Issued", args)


def stored(n: int, contract: str, name: str, args: dict[str, Any]) -> StoredEvent:
    log = DecodedLog(
        31337, TOKEN, contract, name, n, "0x" + "ab" * 32, "0x" + f"{n:064x}", 0, 0, args
    )
    return StoredEvent(id=n, log=log, block_time=WHEN)


async def project(
    engine: AsyncEngine, events: list[StoredEvent], revert: bool
) -> tuple[ProjectionStats, int]:
    """The events' projections in one transaction, and the statements they took."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with engine.begin() as connection:
            run = revert_events if revert else apply_events
            stats = await run(connection, events)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return stats, len(statements)


async def states(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT state, count(*) FROM investments GROUP BY 1"))
        return {str(r[0]): int(r[1]) for r in rows}


async def test_matching_takes_the_same_statements_for_few_and_many_events(
    engine: AsyncEngine,
) -> None:
    few, few_statements = await project(engine, [issued(n) for n in (1, 2, 3)], revert=False)
    assert (few.applied, few.skipped) == (3, 0)
    many_events = [issued(n) for n in range(4, ORDERS + 1)] + [issued(10**6)]  # one not ours
    many, many_statements = await project(engine, many_events, revert=False)
    assert (many.applied, many.skipped) == (ORDERS - 3, 1)
    assert many_statements == few_statements
    assert await states(engine) == {"issued": ORDERS, "pending_payment": 1}
    async with engine.connect() as connection:
        messages = await connection.scalar(
            text("SELECT count(*) FROM notifications WHERE event = 'tokens_issued'")
        )
    assert messages == ORDERS
    # Undone newest first, the orders are paid again, with no issue time left.
    undone, _ = await project(engine, many_events[::-1], revert=True)
    assert (undone.applied, undone.skipped) == (ORDERS - 3, 1)
    assert await states(engine) == {"issued": 3, "paid": ORDERS - 3, "pending_payment": 1}


async def test_a_payment_and_its_issue_in_one_batch_end_as_one_by_one(engine: AsyncEngine) -> None:
    received = stored(
        0,
        "STO",
        "InvestmentReceived",
        {
            "offeringId": "1",
            "investor": TOKEN,
            "amount": "1000",
            "units": "1",
            "investmentRef": ref(0),
        },
    )
    stats, _ = await project(engine, [received, issued(0)], revert=False)
    assert (stats.applied, stats.skipped) == (2, 0)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT i.state, i.tx_hash, i.paid_at IS NOT NULL, i.issued_at IS NOT NULL, "
                    "o.amount_raised, o.units_sold FROM investments i JOIN offerings o "
                    "ON o.id = i.offering_id WHERE i.id = 0"
                )
            )
        ).one()
    # The payment's tx stays the order's; 1000 cents are 10 euros raised.
    assert tuple(row) == ("issued", received.log.tx_hash, True, True, 10, 1)

"""Migration 0015: the payment workers' queues are keyed on awaiting_payment, not state.

Issuing an order (paid -> issued) then changes no column an index names, so PostgreSQL makes
it a HOT update (no index entry written); 0014's predicates on state made it write one into
every index. The workers' claims still find their orders through the partial indexes.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.migrate import downgrade_async, upgrade_async
from dpo.db.urls import libpq_url
from dpo.payments import expiry, remote_cancel, requests

SEED = """
INSERT INTO issuers (id, name, country) VALUES (1, 'Issuer', 'DE');
INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, regulation, currency,
    unit_price, allowed_countries)
VALUES (1, 1, 'US0378331005', 'Offering', 'OFR', 'equity', 'reg_s', 'EUR', 10, '{}');
INSERT INTO investors (id, full_name, country) VALUES (1, 'Investor', 'DE');
INSERT INTO investments (id, investor_id, offering_id, amount, currency, units, state,
    payment_reference)
SELECT n, 1, 1, 1000, 'EUR', 100, CASE WHEN n = 1 THEN 'pending_payment' ELSE 'paid' END,
    'ref-' || n
FROM generate_series(1, 3) AS n;
"""
# The columns the listener's issue sets (listener/projections_orders.py), then this
# transaction's own counts of updated and HOT-updated rows.
ISSUE = """
UPDATE investments SET state = 'issued', tx_hash = '0x' || repeat('a', 64), paid_at = now(),
    issued_at = now(), updated_at = now() WHERE id = $1
"""
COUNTS = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = $1"
QUEUES = """
SELECT indexname || ' ' || regexp_replace(indexdef, '^.* USING btree ', '') FROM pg_indexes
WHERE indexname IN ('ix_investments_payment_due', 'ix_investments_payment_expiring') ORDER BY 1
"""


async def issue(url: str, investment_id: int) -> tuple[int, int]:
    """(rows updated, of which HOT) by issuing one order."""
    connection = await asyncpg.connect(libpq_url(url))
    try:
        async with connection.transaction():
            await connection.execute(ISSUE, investment_id)
            row = await connection.fetchrow(COUNTS, "investments")
    finally:
        await connection.close()
    assert row is not None
    return int(row[0]), int(row[1])


async def fetch(url: str, sql: str) -> list[Any]:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def test_issuing_an_order_is_hot_after_0015_and_not_before(empty_database: str) -> None:
    url = empty_database
    await upgrade_async(url, "0014")
    connection = await asyncpg.connect(libpq_url(url))
    try:
        await connection.execute(SEED)
    finally:
        await connection.close()
    before = await fetch(url, QUEUES)
    assert await issue(url, 2) == (1, 0)  # state in the predicates: every index written
    await upgrade_async(url, "0015")
    assert await fetch(url, QUEUES) == [
        (
            "ix_investments_payment_due (payment_next_attempt_at) WHERE "
            "((payment_id IS NULL) AND awaiting_payment)",
        ),
        (
            "ix_investments_payment_expiring (payment_expires_at) WHERE "
            "(awaiting_payment AND (payment_expires_at IS NOT NULL))",
        ),
    ]
    assert await fetch(url, "SELECT id, awaiting_payment FROM investments ORDER BY id") == [
        (1, True),
        (2, False),
        (3, False),
    ]
    assert await fetch(url, "SELECT reloptions FROM pg_class WHERE relname = 'investments'") == [
        (["fillfactor=50"],)
    ]
    assert await issue(url, 3) == (1, 1)  # HOT: no index entry written
    await downgrade_async(url, "0014")
    assert await fetch(url, QUEUES) == before
    assert await fetch(url, "SELECT reloptions FROM pg_class WHERE relname = 'investments'") == [
        (None,)
    ]
    await upgrade_async(url)


async def plan(db: AsyncSession, claim: TextClause, **values: int) -> str:
    await db.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table is scanned anyway
    rows = (await db.execute(text("EXPLAIN " + claim.text), values)).scalars()
    return "\n".join(rows)


async def test_the_payment_claims_use_their_queues(db: AsyncSession) -> None:
    assert "ix_investments_payment_due" in await plan(db, requests._CLAIM, lease=60, limit=10)
    assert "ix_investments_payment_expiring" in await plan(
        db, expiry._CLAIM, lease=60, grace=60, limit=10
    )
    assert "ix_investments_payment_cancel_due" in await plan(
        db, remote_cancel._CLAIM, lease=60, limit=10
    )

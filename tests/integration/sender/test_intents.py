"""Enqueueing chain intents: in the caller's transaction, idempotent; refunds cancel."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import ChainIntent
from dpo.db.models.enums import IntentState
from dpo.sender.intents import enqueue_issuance, enqueue_refund
from tests.integration.db import factories


async def _intents(db: AsyncSession, investment_id: int) -> dict[str, ChainIntent]:
    rows = await db.scalars(select(ChainIntent).where(ChainIntent.investment_id == investment_id))
    return {row.kind: row for row in rows}


async def test_issuance_enqueues_invest_then_issue_once(db: AsyncSession) -> None:
    investment = factories.investment(state="paid")
    db.add(investment)
    await db.flush()
    before: str | None = investment.onchain_reference
    assert before is None

    await enqueue_issuance(db, investment)
    reference = str(investment.onchain_reference)
    assert re.fullmatch(r"0x[0-9a-f]{64}", reference)
    intents = await _intents(db, investment.id)
    assert set(intents) == {"invest", "issue"}
    assert intents["issue"].depends_on_id == intents["invest"].id
    assert all(i.state == "pending" and i.nonce is None for i in intents.values())

    for _ in range(3):  # a repeated webhook, a replayed job
        await enqueue_issuance(db, investment)
    assert investment.onchain_reference == reference
    count = await db.scalar(
        select(func.count())
        .select_from(ChainIntent)
        .where(ChainIntent.investment_id == investment.id)
    )
    assert count == 2


async def test_enqueue_does_not_commit(db: AsyncSession) -> None:
    investment = factories.investment(state="paid")
    db.add(investment)
    await db.flush()
    investment_id = investment.id
    savepoint = await db.begin_nested()
    await enqueue_issuance(db, investment)
    await savepoint.rollback()
    assert (
        await db.scalar(
            select(func.count())
            .select_from(ChainIntent)
            .where(ChainIntent.investment_id == investment_id)
        )
        == 0
    )


async def test_refund_before_signing_cancels_and_owes_nothing(db: AsyncSession) -> None:
    investment = factories.investment(state="paid")
    db.add(investment)
    await db.flush()
    await enqueue_issuance(db, investment)
    await enqueue_refund(db, investment)
    await enqueue_refund(db, investment)
    investment_id = investment.id
    db.expire_all()
    intents = await _intents(db, investment_id)
    assert set(intents) == {"invest", "issue"}
    assert {i.state for i in intents.values()} == {"cancelled"}


async def test_refund_after_the_order_was_signed_owes_a_refund(db: AsyncSession) -> None:
    investment = factories.investment(state="paid")
    db.add(investment)
    await db.flush()
    await enqueue_issuance(db, investment)
    await db.execute(
        update(ChainIntent)
        .where(ChainIntent.investment_id == investment.id, ChainIntent.kind == "invest")
        .values(state=IntentState.IN_FLIGHT.value)
    )
    await enqueue_refund(db, investment)
    await enqueue_refund(db, investment)
    investment_id = investment.id
    db.expire_all()
    intents = await _intents(db, investment_id)
    assert intents["issue"].state == "cancelled"
    assert intents["invest"].state == "in_flight"
    assert intents["refund"].state == "pending"
    assert intents["refund"].depends_on_id == intents["invest"].id


async def test_refund_without_issuance_is_a_no_op(db: AsyncSession) -> None:
    investment = factories.investment(state="paid")
    db.add(investment)
    await db.flush()
    await enqueue_refund(db, investment)
    assert await _intents(db, investment.id) == {}

"""submit_investment's rules one by one, the hard-cap race, cancel and the read paths."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dpo.auth.principal import ANONYMOUS
from dpo.db.models import AuditLog, Investment, Investor, InvestorWallet, Issuer, Offering
from dpo.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from dpo.services import investments
from tests.integration.services.support import (
    address,
    admin,
    audit_rows,
    issuer_staff,
    make_investor,
    make_offering,
    now,
    wallet,
)


async def _count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Investment)) or 0)


async def test_accepted_order_gets_units_reference_and_audit(db: AsyncSession) -> None:
    offering = await make_offering(db)
    investor, me = await make_investor(db)
    order = await investments.submit_investment(
        db, principal=me, offering_id=offering.id, amount=Decimal("1500"), currency="usd"
    )
    assert order.units == 150
    assert order.state == "pending_payment"
    assert order.currency == "USD"
    assert order.investor_id == investor.id
    assert order.payment_reference.startswith("DPO-")
    assert len(order.payment_reference) == 13
    [row] = await audit_rows(db, "investment", order.id)
    assert row.action == "investment.submit"
    assert row.actor == me.actor
    assert row.before is None
    assert row.after is not None
    assert Decimal(row.after["amount"]) == Decimal("1500")
    assert row.after["units"] == "150"


def test_payment_references_differ() -> None:
    references = {investments.new_payment_reference() for _ in range(200)}
    assert len(references) == 200
    assert all(ref[4:8].isalnum() and ref[9:].isalnum() for ref in references)


async def _setup(
    db: AsyncSession, offering: dict[str, Any], investor: dict[str, Any]
) -> tuple[Offering, Any]:
    made = await make_offering(db, **offering)
    _, principal = await make_investor(db, **investor)
    return made, principal


REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], str, str, type[DomainError]]] = [
    # (case, offering overrides, investor overrides, amount, reason, error)
    ("closed status", {"status": "closed"}, {}, "1000", "offering_not_open", ConflictError),
    ("cancelled status", {"status": "cancelled"}, {}, "1000", "offering_not_open", ConflictError),
    (
        "before window",
        {"opens_at": now() + timedelta(hours=1), "closes_at": now() + timedelta(days=2)},
        {},
        "1000",
        "not_yet_open",
        ConflictError,
    ),
    (
        "after window",
        {"opens_at": now() - timedelta(days=2), "closes_at": now() - timedelta(seconds=1)},
        {},
        "1000",
        "closed",
        ConflictError,
    ),
    ("below min ticket", {}, {}, "90", "below_min_ticket", ValidationError),
    ("above max ticket", {}, {}, "5010", "above_max_ticket", ValidationError),
    ("zero amount", {}, {}, "0", "amount_not_positive", ValidationError),
    ("negative amount", {}, {}, "-100", "amount_not_positive", ValidationError),
    ("fractional units", {}, {}, "1005", "fractional_units", ValidationError),
    ("kyc pending", {}, {"kyc_status": "pending"}, "1000", "kyc_not_approved", ForbiddenError),
    ("kyc rejected", {}, {"kyc_status": "rejected"}, "1000", "kyc_not_approved", ForbiddenError),
    ("kyc expired", {}, {"kyc_status": "expired"}, "1000", "kyc_not_approved", ForbiddenError),
    (
        "506c without accreditation",
        {"regulation": "reg_d_506c"},
        {},
        "1000",
        "accreditation_required",
        ForbiddenError,
    ),
    (
        "506c accreditation expired",
        {"regulation": "reg_d_506c"},
        {"accreditation_status": "verified", "accreditation_expires_at": now() - timedelta(days=1)},
        "1000",
        "accreditation_required",
        ForbiddenError,
    ),
    (
        "506c accreditation pending",
        {"regulation": "reg_d_506c"},
        {"accreditation_status": "pending"},
        "1000",
        "accreditation_required",
        ForbiddenError,
    ),
    (
        "reg s us person",
        {"regulation": "reg_s"},
        {"is_us_person": True, "country": "US"},
        "1000",
        "us_person",
        ForbiddenError,
    ),
    (
        "country not allowed",
        {"allowed_countries": ["CH", "DE"]},
        {"country": "GB"},
        "1000",
        "country_not_allowed",
        ForbiddenError,
    ),
    (
        "over hard cap",
        {"hard_cap": Decimal("1000"), "soft_cap": Decimal("500")},
        {},
        "1100",
        "hard_cap_exceeded",
        ConflictError,
    ),
]


@pytest.mark.parametrize(
    ("offering", "investor", "amount", "reason", "error"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
async def test_each_rule_refuses_and_writes_nothing(
    db: AsyncSession,
    offering: dict[str, Any],
    investor: dict[str, Any],
    amount: str,
    reason: str,
    error: type[DomainError],
) -> None:
    made, principal = await _setup(db, offering, investor)
    before, audits = await _count(db), await db.scalar(select(func.count()).select_from(AuditLog))
    with pytest.raises(error) as caught:
        await investments.submit_investment(
            db, principal=principal, offering_id=made.id, amount=Decimal(amount), currency="USD"
        )
    assert caught.value.details["reason"] == reason
    assert await _count(db) == before
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == audits


async def test_currency_mismatch_is_refused(db: AsyncSession) -> None:
    offering, principal = await _setup(db, {}, {})
    with pytest.raises(ValidationError) as caught:
        await investments.submit_investment(
            db, principal=principal, offering_id=offering.id, amount=Decimal("1000"), currency="EUR"
        )
    assert caught.value.details["reason"] == "currency_mismatch"


async def test_each_rule_passes_when_met(db: AsyncSession) -> None:
    # The same kinds of offering as above accept an investor who meets their rules.
    later = now() + timedelta(days=365)
    offering = await make_offering(db, regulation="reg_d_506c", allowed_countries=["GB"])
    _, principal = await make_investor(
        db, accreditation_status="verified", accreditation_expires_at=later
    )
    order = await investments.submit_investment(
        db, principal=principal, offering_id=offering.id, amount=Decimal("100"), currency="USD"
    )
    assert order.units == 10
    reg_s = await make_offering(db, regulation="reg_s")
    _, non_us = await make_investor(db, country="US", is_us_person=False)
    await investments.submit_investment(
        db, principal=non_us, offering_id=reg_s.id, amount=Decimal("5000"), currency="USD"
    )


async def test_hard_cap_counts_live_orders_only(db: AsyncSession) -> None:
    offering = await make_offering(db, hard_cap=Decimal("2000"), soft_cap=Decimal("0"))
    _, first = await make_investor(db)
    _, second = await make_investor(db)
    order = await investments.submit_investment(
        db, principal=first, offering_id=offering.id, amount=Decimal("1500"), currency="USD"
    )
    with pytest.raises(ConflictError) as caught:
        await investments.submit_investment(
            db, principal=second, offering_id=offering.id, amount=Decimal("600"), currency="USD"
        )
    assert caught.value.details["available"] == "500.000000000000000000"
    await investments.cancel_investment(db, principal=first, investment_id=order.id)
    await investments.submit_investment(
        db, principal=second, offering_id=offering.id, amount=Decimal("600"), currency="USD"
    )
    # Exactly at the cap is allowed.
    await investments.submit_investment(
        db, principal=first, offering_id=offering.id, amount=Decimal("1400"), currency="USD"
    )


async def test_who_may_submit(db: AsyncSession) -> None:
    offering = await make_offering(db)
    draft = await make_offering(db, status="draft")
    _, principal = await make_investor(db)
    with pytest.raises(UnauthenticatedError):
        await investments.submit_investment(
            db, principal=ANONYMOUS, offering_id=offering.id, amount=Decimal("100"), currency="USD"
        )
    with pytest.raises(ForbiddenError) as caught:
        await investments.submit_investment(
            db,
            principal=wallet(address()),
            offering_id=offering.id,
            amount=Decimal("100"),
            currency="USD",
        )
    assert caught.value.details["reason"] == "not_registered"
    with pytest.raises(NotFoundError):
        await investments.submit_investment(
            db, principal=principal, offering_id=draft.id, amount=Decimal("100"), currency="USD"
        )
    with pytest.raises(NotFoundError):
        await investments.submit_investment(
            db, principal=principal, offering_id=10**12, amount=Decimal("100"), currency="USD"
        )


async def test_cancel_own_pending_only(db: AsyncSession) -> None:
    offering = await make_offering(db)
    _, owner = await make_investor(db)
    _, other = await make_investor(db)
    order = await investments.submit_investment(
        db, principal=owner, offering_id=offering.id, amount=Decimal("100"), currency="USD"
    )
    for intruder in (other, admin(), issuer_staff(offering.issuer_id)):
        with pytest.raises(ForbiddenError):
            await investments.cancel_investment(db, principal=intruder, investment_id=order.id)
    assert order.state == "pending_payment"
    await investments.cancel_investment(db, principal=owner, investment_id=order.id)
    assert order.state == "cancelled"
    with pytest.raises(ConflictError):
        await investments.cancel_investment(db, principal=owner, investment_id=order.id)
    rows = await audit_rows(db, "investment", order.id)
    assert [row.action for row in rows] == ["investment.submit", "investment.cancel"]
    assert rows[1].before is not None
    assert rows[1].before["state"] == "pending_payment"
    assert rows[1].after is not None
    assert rows[1].after["state"] == "cancelled"


async def test_reads_per_role(db: AsyncSession) -> None:
    mine = await make_offering(db)
    theirs = await make_offering(db)
    _, alice = await make_investor(db)
    _, bob = await make_investor(db)
    a = await investments.submit_investment(
        db, principal=alice, offering_id=mine.id, amount=Decimal("100"), currency="USD"
    )
    b = await investments.submit_investment(
        db, principal=bob, offering_id=theirs.id, amount=Decimal("100"), currency="USD"
    )
    seen = (await investments.list_investments(db, principal=alice)).rows
    assert [i.id for i in seen] == [a.id]
    with pytest.raises(ForbiddenError):
        await investments.get_investment(db, principal=alice, investment_id=b.id)
    assert (await investments.get_investment(db, principal=bob, investment_id=b.id)).id == b.id
    issuer = issuer_staff(mine.issuer_id)
    listed = await investments.list_investments(db, principal=issuer)
    assert [i.id for i in listed.rows] == [a.id]
    assert await investments.count_investments(db, principal=issuer) == 1
    with pytest.raises(ForbiddenError):
        await investments.get_investment(db, principal=issuer, investment_id=b.id)
    everyone = (
        await investments.list_investments(db, principal=admin(), offering_id=theirs.id)
    ).rows
    assert [i.id for i in everyone] == [b.id]
    with pytest.raises(NotFoundError):
        await investments.get_investment(db, principal=admin(), investment_id=10**12)
    with pytest.raises(UnauthenticatedError):
        await investments.list_investments(db, principal=ANONYMOUS)
    with pytest.raises(ForbiddenError):
        await investments.list_investments(db, principal=wallet(address()))


async def test_concurrent_orders_cannot_exceed_the_hard_cap(engine: AsyncEngine) -> None:
    """Two sessions each fit under the cap alone; together they would not. One must lose."""
    async with AsyncSession(engine, expire_on_commit=False) as setup:
        offering = await make_offering(setup, hard_cap=Decimal("1500"), soft_cap=Decimal("0"))
        first_investor, first = await make_investor(setup)
        second_investor, second = await make_investor(setup)
        await setup.commit()
    ids = {
        "offering": offering.id,
        "issuer": offering.issuer_id,
        "investors": [first_investor.id, second_investor.id],
    }
    try:
        async with AsyncSession(engine) as a, AsyncSession(engine) as b:
            await investments.submit_investment(
                a, principal=first, offering_id=offering.id, amount=Decimal("1000"), currency="USD"
            )
            pid = await b.scalar(text("SELECT pg_backend_pid()"))
            racing = asyncio.create_task(
                investments.submit_investment(
                    b,
                    principal=second,
                    offering_id=offering.id,
                    amount=Decimal("1000"),
                    currency="USD",
                )
            )
            # Wait until b is queued on a's row lock, then let a commit.
            async with AsyncSession(engine) as watcher:
                while True:
                    waiting = await watcher.scalar(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": pid},
                    )
                    await watcher.rollback()
                    if waiting == "Lock":
                        break
                    assert not racing.done(), "the second order did not wait for the lock"
                    await asyncio.sleep(0.01)
            await a.commit()
            with pytest.raises(ConflictError) as caught:
                await racing
            assert caught.value.details["reason"] == "hard_cap_exceeded"
            await b.rollback()
        async with AsyncSession(engine) as check:
            total = await investments.committed_total(check, offering.id)
            assert total == Decimal("1000")
    finally:
        await _cleanup(engine, ids)


async def _cleanup(engine: AsyncEngine, ids: dict[str, Any]) -> None:
    async with AsyncSession(engine) as session, session.begin():
        order_ids = (
            await session.scalars(
                select(Investment.id).where(Investment.offering_id == ids["offering"])
            )
        ).all()
        await session.execute(
            delete(AuditLog).where(
                AuditLog.entity_type == "investment",
                AuditLog.entity_id.in_([str(order_id) for order_id in order_ids]),
            )
        )
        await session.execute(delete(Investment).where(Investment.offering_id == ids["offering"]))
        await session.execute(
            delete(InvestorWallet).where(InvestorWallet.investor_id.in_(ids["investors"]))
        )
        await session.execute(delete(Investor).where(Investor.id.in_(ids["investors"])))
        await session.execute(delete(Offering).where(Offering.id == ids["offering"]))
        await session.execute(delete(Issuer).where(Issuer.id == ids["issuer"]))

"""Settlement rules and issuer visibility on a real database."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.models import AuditLog, Investment, Issuer, Offering
from dpo.errors import ConflictError, ForbiddenError, NotFoundError, UnauthenticatedError
from dpo.services import issuers
from dpo.services import offering_changes as lifecycle
from dpo.services.issuers import OfferingPageSpec
from tests.integration.services.support import (
    admin,
    audit_rows,
    issuer_staff,
    make_investor,
    make_offering,
    ops,
    wallet,
)


def hash32() -> str:
    return "0x" + secrets.token_hex(32)


async def closed_linked(db: AsyncSession, **overrides: Any) -> Offering:
    """A closed offering linked on chain that sold 30 units."""
    values: dict[str, Any] = {
        "status": "closed",
        "onchain_offering_id": secrets.randbelow(2**60),
        "token_address": "0x" + secrets.token_hex(20),
        "units_sold": 30,
    }
    values.update(overrides)
    return await make_offering(db, **values)


async def order(
    db: AsyncSession, offering: Offering, *, state: str, units: int = 10, matched: bool = True
) -> Investment:
    investor, _ = await make_investor(db)
    row = Investment(
        investor_id=investor.id,
        offering_id=offering.id,
        amount=Decimal(units * 10),
        currency="USD",
        units=units,
        state=state,
        payment_reference=secrets.token_hex(8),
        onchain_reference=hash32() if matched else None,
        tx_hash=hash32() if matched else None,
        issued_at=datetime.now(UTC) if matched and state == "issued" else None,
    )
    db.add(row)
    await db.flush()
    return row


async def audit_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(AuditLog)) or 0)


async def test_settles_when_every_order_is_issued_on_chain(db: AsyncSession) -> None:
    offering = await closed_linked(db)
    await order(db, offering, state="issued", units=10)
    await order(db, offering, state="issued", units=20)
    await order(db, offering, state="cancelled", units=5, matched=False)
    await order(db, offering, state="refunded", units=7)
    settled = await lifecycle.settle_offering(
        db, principal=issuer_staff(offering.issuer_id), offering_id=offering.id, request_id="r-1"
    )
    assert settled.status == "settled"
    [row] = list(await audit_rows(db, "offering", offering.id))
    assert (row.actor, row.action, row.request_id) == ("user:3", "offering.settled", "r-1")
    assert row.before is not None
    assert row.before["status"] == "closed"
    assert row.after is not None
    assert row.after["status"] == "settled"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unlinked", "not_linked"),
        ("pending", "unissued_investments"),
        ("paid", "unissued_investments"),
        ("unmatched", "unmatched_investments"),
        ("empty", "nothing_issued"),
        ("short", "units_mismatch"),
    ],
)
async def test_settlement_refusals_change_nothing(db: AsyncSession, case: str, reason: str) -> None:
    offering = await closed_linked(
        db, **({"onchain_offering_id": None} if case == "unlinked" else {})
    )
    if case != "empty":
        await order(
            db,
            offering,
            state="issued",
            units=30 if case != "short" else 20,
            matched=case != "unmatched",
        )
    if case in ("pending", "paid"):
        await order(db, offering, state="pending_payment" if case == "pending" else "paid")
    before = await audit_count(db)
    with pytest.raises(ConflictError) as caught:
        await lifecycle.settle_offering(db, principal=admin(), offering_id=offering.id)
    assert caught.value.details["reason"] == reason
    await db.refresh(offering)
    assert offering.status == "closed"
    assert await audit_count(db) == before


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (ANONYMOUS, UnauthenticatedError),
        (ops(), ForbiddenError),
        (wallet("0x" + "12" * 20, 1), ForbiddenError),
        (issuer_staff(-1), NotFoundError),
    ],
)
async def test_settlement_needs_the_issuer_or_an_admin(
    db: AsyncSession, principal: Principal, error: type[Exception]
) -> None:
    offering = await closed_linked(db)
    await order(db, offering, state="issued", units=30)
    with pytest.raises(error):
        await lifecycle.settle_offering(db, principal=principal, offering_id=offering.id)
    await db.refresh(offering)
    assert offering.status == "closed"


async def test_issuer_visibility_by_role(db: AsyncSession) -> None:
    shown, hidden = Issuer(name="Shown Issuer"), Issuer(name="Hidden Issuer")
    closed_only = Issuer(name="Closed Issuer")
    await make_offering(db, issuer=shown, status="open")
    await make_offering(db, issuer=shown, status="draft")
    await make_offering(db, issuer=hidden, status="draft")
    await make_offering(db, issuer=closed_only, status="closed")
    investor_principal = wallet("0x" + "34" * 20, 1)

    async def names(principal: Principal) -> set[str]:
        page = await issuers.list_issuers(db, principal=principal, first=100)
        ours = {shown.id, hidden.id, closed_only.id}
        return {row.name for row in page.rows if row.id in ours}

    assert await names(ANONYMOUS) == {"Shown Issuer"}
    assert await names(investor_principal) == {"Shown Issuer", "Closed Issuer"}
    assert await names(issuer_staff(hidden.id)) == {"Shown Issuer", "Hidden Issuer"}
    assert (
        await names(admin())
        == await names(ops())
        == {"Shown Issuer", "Hidden Issuer", "Closed Issuer"}
    )
    with pytest.raises(NotFoundError):
        await issuers.get_issuer(db, principal=ANONYMOUS, issuer_id=hidden.id)
    assert (
        await issuers.get_issuer(db, principal=issuer_staff(hidden.id), issuer_id=hidden.id)
    ).name == "Hidden Issuer"
    spec = OfferingPageSpec(first=1)
    pages = await issuers.list_offering_pages(
        db, principal=ANONYMOUS, issuer_ids=[shown.id, hidden.id], spec=spec
    )
    assert [o.status for o in pages[shown.id].rows] == ["open"]
    assert pages[hidden.id].rows == []
    staff_pages = await issuers.list_offering_pages(
        db, principal=issuer_staff(shown.id), issuer_ids=[shown.id], spec=spec
    )
    assert staff_pages[shown.id].has_next_page is True
    rest = await issuers.list_offering_pages(
        db,
        principal=issuer_staff(shown.id),
        issuer_ids=[shown.id],
        spec=OfferingPageSpec(first=1, after=staff_pages[shown.id].cursors[-1]),
    )
    assert len(rest[shown.id].rows) == 1
    assert rest[shown.id].rows[0].id != staff_pages[shown.id].rows[0].id
    assert rest[shown.id].has_next_page is False
    counts = await issuers.count_offerings_by_issuer(
        db, principal=ANONYMOUS, issuer_ids=[shown.id, hidden.id], status=None
    )
    assert counts == {shown.id: 1, hidden.id: 0}

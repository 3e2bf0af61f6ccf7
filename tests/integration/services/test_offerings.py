"""The offerings service on a real database: life cycle, rules, permissions, audit."""

from __future__ import annotations

import itertools
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.models import AuditLog, Investment, Issuer, Offering
from dpo.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from dpo.services import offering_changes as lifecycle
from dpo.services import offering_pages
from dpo.services import offerings as svc
from dpo.services.codes import isin_check_digit
from dpo.services.offering_detail import (
    IssuerFields,
    get_offering_detail,
    list_offering_relations,
)
from dpo.services.pagination import PageSizeExceededError
from tests.integration.services.support import (
    admin,
    audit_rows,
    issuer_staff,
    make_investor,
    make_offering,
    now,
    ops,
)

_serial = itertools.count(1)


def valid_isin() -> str:
    """A fresh ISIN with a correct check digit."""
    body = f"XS{next(_serial):05d}{secrets.token_hex(2).upper()}"
    return body + str(isin_check_digit(body))


def fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "isin": valid_isin(),
        "name": "Bolt Series B",
        "symbol": "BOLT",
        "security_type": "equity",
        "regulation": "reg_d_506c",
        "currency": "EUR",
        "unit_price": Decimal("25"),
        "min_ticket": Decimal("250"),
        "max_ticket": Decimal("25000"),
        "soft_cap": Decimal("100000"),
        "hard_cap": Decimal("500000"),
        "opens_at": now() + timedelta(days=1),
        "closes_at": now() + timedelta(days=31),
    }
    values.update(overrides)
    return values


async def new_issuer(db: AsyncSession) -> Issuer:
    issuer = Issuer(name=f"Bolt GmbH {secrets.token_hex(3)}", country="DE")
    db.add(issuer)
    await db.flush()
    return issuer


async def audit_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(AuditLog)) or 0)


async def issue_on_chain(db: AsyncSession, offering: Offering) -> None:
    """Link the offering on chain with one order issued there, as the listener records it."""
    investor, _ = await make_investor(db)
    offering.onchain_offering_id = secrets.randbelow(2**60)
    offering.token_address = "0x" + secrets.token_hex(20)
    offering.units_sold = 40
    db.add(
        Investment(
            investor_id=investor.id,
            offering_id=offering.id,
            amount=Decimal(1000),
            currency="EUR",
            units=40,
            state="issued",
            payment_reference=secrets.token_hex(8),
            onchain_reference="0x" + secrets.token_hex(32),
            tx_hash="0x" + secrets.token_hex(32),
            issued_at=now(),
        )
    )
    await db.flush()


async def test_life_cycle_with_audit(db: AsyncSession) -> None:
    issuer = await new_issuer(db)
    staff = issuer_staff(issuer.id)
    offering = await lifecycle.create_offering(
        db, principal=staff, issuer_id=issuer.id, fields=fields()
    )
    assert offering.status == "draft"
    assert offering.created_at is not None
    offering = await lifecycle.update_offering(
        db, principal=staff, offering_id=offering.id, changes={"name": "Bolt Series B2"}
    )
    assert offering.name == "Bolt Series B2"
    await lifecycle.open_offering(db, principal=staff, offering_id=offering.id)
    with pytest.raises(ConflictError):
        await lifecycle.update_offering(
            db, principal=staff, offering_id=offering.id, changes={"name": "Too late"}
        )
    await lifecycle.close_offering(db, principal=admin(), offering_id=offering.id)
    await issue_on_chain(db, offering)
    settled = await lifecycle.settle_offering(db, principal=admin(), offering_id=offering.id)
    assert settled.status == "settled"
    rows = await audit_rows(db, "offering", offering.id)
    assert [r.action for r in rows] == [
        "offering.create",
        "offering.update",
        "offering.open",
        "offering.closed",
        "offering.settled",
    ]
    assert rows[0].before is None
    assert rows[0].after is not None
    assert rows[0].after["unit_price"] == "25.000000000000000000"
    assert rows[1].before is not None
    assert rows[1].before["name"] == "Bolt Series B"
    assert rows[1].after is not None
    assert rows[1].after["name"] == "Bolt Series B2"
    assert rows[2].before is not None
    assert rows[2].before["status"] == "draft"
    assert {r.actor for r in rows} == {"user:3", "user:1"}


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("draft", lifecycle.close_offering),
        ("open", lifecycle.open_offering),
        ("closed", lifecycle.open_offering),
        ("settled", lifecycle.cancel_offering),
        ("cancelled", lifecycle.open_offering),
        ("cancelled", lifecycle.cancel_offering),
        ("draft", lifecycle.settle_offering),
    ],
)
async def test_invalid_transitions_conflict_and_change_nothing(
    db: AsyncSession, start: str, action: Any
) -> None:
    offering = await make_offering(db, status=start)
    before = await audit_count(db)
    with pytest.raises(ConflictError) as caught:
        await action(db, principal=admin(), offering_id=offering.id)
    assert caught.value.details == {"status": start}
    await db.refresh(offering)
    assert offering.status == start
    assert await audit_count(db) == before


async def test_cancel_from_draft_open_and_closed(db: AsyncSession) -> None:
    for start in ("draft", "open", "closed"):
        offering = await make_offering(db, status=start)
        cancelled = await lifecycle.cancel_offering(db, principal=admin(), offering_id=offering.id)
        assert cancelled.status == "cancelled"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"min_ticket": Decimal("30000")}, "min_ticket"),
        ({"max_ticket": Decimal("600000")}, "max_ticket"),
        ({"soft_cap": Decimal("600000")}, "soft_cap"),
        ({"opens_at": now() + timedelta(days=40)}, "opens_at"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"regulation": "reg_z"}, "regulation"),
        ({"security_type": "tulips"}, "security_type"),
        ({"isin": "US0378331006"}, "isin"),
        ({"unit_price": Decimal(0)}, "unit_price"),
        ({"hard_cap": Decimal(-1)}, "hard_cap"),
        ({"name": "  "}, "name"),
        ({"symbol": "bad symbol"}, "symbol"),
        ({"allowed_countries": ["gb"]}, "allowed_countries"),
        ({"unit_price": None}, "unit_price"),
        ({"status": "open"}, "status"),
    ],
)
async def test_rules_name_the_field_and_write_nothing(
    db: AsyncSession, changes: dict[str, Any], field: str
) -> None:
    issuer = await new_issuer(db)
    count_before = await db.scalar(select(func.count()).select_from(Offering))
    audit_before = await audit_count(db)
    with pytest.raises(ValidationError) as caught:
        await lifecycle.create_offering(
            db, principal=admin(), issuer_id=issuer.id, fields=fields(**changes)
        )
    assert caught.value.details["field"] == field
    assert await db.scalar(select(func.count()).select_from(Offering)) == count_before
    assert await audit_count(db) == audit_before


async def test_update_checks_the_merged_state(db: AsyncSession) -> None:
    offering = await make_offering(db, status="draft", isin=valid_isin())
    with pytest.raises(ValidationError) as caught:
        await lifecycle.update_offering(
            db, principal=admin(), offering_id=offering.id, changes={"min_ticket": Decimal("6000")}
        )
    assert caught.value.details["field"] == "min_ticket"
    await db.refresh(offering)
    assert offering.min_ticket == Decimal(100)


async def test_duplicate_isin_conflicts(db: AsyncSession) -> None:
    issuer = await new_issuer(db)
    first = fields()
    await lifecycle.create_offering(db, principal=admin(), issuer_id=issuer.id, fields=first)
    with pytest.raises(ConflictError):
        await lifecycle.create_offering(
            db, principal=admin(), issuer_id=issuer.id, fields=fields(isin=first["isin"])
        )


async def test_open_needs_window_and_cap(db: AsyncSession) -> None:
    offering = await make_offering(db, status="draft", hard_cap=None, soft_cap=None)
    with pytest.raises(ValidationError) as caught:
        await lifecycle.open_offering(db, principal=admin(), offering_id=offering.id)
    assert caught.value.details["field"] == "hard_cap"


async def test_permissions_per_role(db: AsyncSession) -> None:
    mine = await new_issuer(db)
    theirs = await new_issuer(db)
    draft = await make_offering(db, issuer=theirs, status="draft")
    _, investor = await make_investor(db)
    with pytest.raises(UnauthenticatedError):
        await lifecycle.create_offering(db, principal=ANONYMOUS, issuer_id=mine.id, fields=fields())
    for caller in (investor, ops()):
        with pytest.raises(ForbiddenError):
            await lifecycle.create_offering(
                db, principal=caller, issuer_id=mine.id, fields=fields()
            )
        with pytest.raises(ForbiddenError):
            await lifecycle.open_offering(db, principal=caller, offering_id=draft.id)
    staff = issuer_staff(mine.id)
    with pytest.raises(ForbiddenError):
        await lifecycle.create_offering(db, principal=staff, issuer_id=theirs.id, fields=fields())
    # Another issuer's draft is invisible to this staff: not found, not forbidden.
    with pytest.raises(NotFoundError):
        await lifecycle.open_offering(db, principal=staff, offering_id=draft.id)
    with pytest.raises(UnauthenticatedError):
        await lifecycle.cancel_offering(db, principal=ANONYMOUS, offering_id=draft.id)
    await db.refresh(draft)
    assert draft.status == "draft"
    open_theirs = await make_offering(db, issuer=theirs, status="open")
    with pytest.raises(ForbiddenError):
        await lifecycle.close_offering(db, principal=staff, offering_id=open_theirs.id)


async def test_visibility_per_role(db: AsyncSession) -> None:
    issuer = await new_issuer(db)
    other = await new_issuer(db)
    rows = {
        status: await make_offering(db, issuer=issuer, status=status)
        for status in ("draft", "open", "closed", "settled", "cancelled")
    }
    other_draft = await make_offering(db, issuer=other, status="draft")
    _, investor = await make_investor(db)

    async def seen(principal: Principal) -> set[int]:
        page = await offering_pages.list_offerings(
            db, principal=principal, first=100, filter=svc.OfferingFilter(search="Acme")
        )
        # Rows of the offerings table (columns by name), never ORM objects.
        assert not any(isinstance(o, Offering) for o in page.rows)
        return {o.id for o in page.rows} & ({o.id for o in rows.values()} | {other_draft.id})

    assert await seen(ANONYMOUS) == {rows["open"].id}
    assert await seen(investor) == {rows[s].id for s in ("open", "closed", "settled")}
    assert await seen(issuer_staff(issuer.id)) == {o.id for o in rows.values()}
    assert await seen(issuer_staff(other.id)) == {rows["open"].id, other_draft.id}
    assert await seen(admin()) == {o.id for o in rows.values()} | {other_draft.id}
    with pytest.raises(NotFoundError):
        await svc.get_offering(db, principal=ANONYMOUS, id=rows["draft"].id)
    with pytest.raises(NotFoundError):
        await svc.get_offering(db, principal=ANONYMOUS, isin=other_draft.isin)
    found = await svc.get_offering(db, principal=ANONYMOUS, isin=rows["open"].isin)
    assert found.id == rows["open"].id


async def test_keyset_pages_are_stable_under_inserts(db: AsyncSession) -> None:
    issuer = await new_issuer(db)
    tag = secrets.token_hex(4)
    for i in range(5):
        await make_offering(
            db,
            issuer=issuer,
            name=f"Page {tag} {i}",
            opens_at=None if i == 2 else now() + timedelta(days=i),
        )
    where = svc.OfferingFilter(search=tag)
    for sort in svc.OfferingSort:
        for descending in (False, True):
            seen: list[int] = []
            after = None
            while True:
                page = await offering_pages.list_offerings(
                    db,
                    principal=admin(),
                    filter=where,
                    order_by=sort,
                    descending=descending,
                    first=2,
                    after=after,
                )
                seen.extend(o.id for o in page.rows)
                if len(seen) == 2:
                    # A row inserted before the cursor must not shift the next page.
                    await make_offering(
                        db, issuer=issuer, name=f"Page {tag} a", opens_at=now() - timedelta(days=99)
                    )
                if not page.has_next_page:
                    break
                after = page.cursors[-1]
            assert len(seen) == len(set(seen))
            assert len(seen) >= 5
    total = await svc.count_offerings(db, principal=admin(), filter=where)
    assert total == 5 + 6


async def test_page_limits_and_bad_cursors(db: AsyncSession) -> None:
    with pytest.raises(PageSizeExceededError):
        await offering_pages.list_offerings(db, principal=ANONYMOUS, first=101)
    with pytest.raises(ValidationError):
        await offering_pages.list_offerings(db, principal=ANONYMOUS, first=-1)
    page = await offering_pages.list_offerings(db, principal=admin(), first=1)
    with pytest.raises(ValidationError):
        await offering_pages.list_offerings(db, principal=admin(), first=1, after="garbage")
    if page.cursors:
        with pytest.raises(ValidationError):
            await offering_pages.list_offerings(
                db,
                principal=admin(),
                first=1,
                after=page.cursors[0],
                order_by=svc.OfferingSort.NAME,
            )


async def test_totals_count_committed_investments(db: AsyncSession) -> None:
    offering = await make_offering(db)
    empty = await make_offering(db)
    investor_a, _ = await make_investor(db)
    investor_b, _ = await make_investor(db)
    for investor, amount, state in (
        (investor_a, "100", "paid"),
        (investor_a, "200", "issued"),
        (investor_b, "300", "pending_payment"),
        (investor_b, "999", "cancelled"),
    ):
        db.add(
            Investment(
                investor_id=investor.id,
                offering_id=offering.id,
                amount=Decimal(amount),
                currency="USD",
                state=state,
                payment_reference=secrets.token_hex(8),
            )
        )
    await db.flush()
    totals = await svc.list_offering_totals(db, offering_ids=[offering.id, empty.id])
    assert totals[offering.id] == svc.OfferingTotals(3, 2, Decimal(600))
    assert totals[empty.id] == svc.OfferingTotals(0, 0, Decimal(0))
    # A detail page reads the offering, its issuer and the same totals in one statement.
    for row in (offering, empty):
        detail = await get_offering_detail(db, principal=ANONYMOUS, id=row.id)
        assert detail.offering.id == row.id
        assert detail.offering.name == row.name
        assert detail.totals == totals[row.id]
        assert detail.issuer == IssuerFields(
            id=row.issuer_id, name="Acme Capital AG", country="CH", website=None
        )
    # A page's issuers and totals, in one statement; an id that is no offering is left out.
    relations = await list_offering_relations(db, offering_ids=[offering.id, empty.id, 10**12])
    assert set(relations) == {offering.id, empty.id}
    for row in (offering, empty):
        issuer, committed = relations[row.id]
        assert committed == totals[row.id]
        assert issuer is not None
        assert issuer.id == row.issuer_id
    by_isin = await get_offering_detail(db, principal=ANONYMOUS, isin=offering.isin)
    assert by_isin.offering.id == offering.id
    draft = await make_offering(db, status="draft")
    with pytest.raises(NotFoundError):  # hidden as get_offering hides it
        await get_offering_detail(db, principal=ANONYMOUS, id=draft.id)
    assert (await get_offering_detail(db, principal=admin(), id=draft.id)).offering.id == draft.id
    with pytest.raises(ValidationError):
        await get_offering_detail(db, principal=ANONYMOUS)


async def test_isin_taken_between_check_and_insert_is_conflict(db: AsyncSession) -> None:
    taken = await make_offering(db, isin=valid_isin())
    # The row another request inserted after our check: the unique constraint decides.
    db.add(
        Offering(
            issuer_id=taken.issuer_id,
            isin=taken.isin,
            name="Twin",
            symbol="TW",
            security_type="equity",
            regulation="reg_s",
            currency="EUR",
            unit_price=Decimal(1),
        )
    )
    with pytest.raises(ConflictError) as caught:
        await lifecycle._flush_unique_isin(db)
    assert caught.value.details == {"field": "isin"}

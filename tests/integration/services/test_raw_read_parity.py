"""The read services give the same answers on the driver connection (dpo.db.raw_reads) as
through SQLAlchemy's execution path, on the same seeded rows: nulls, JSONB, decimals,
timestamps, cursors both ways and empty pages."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import is_dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Text, cast, distinct, exists, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS
from dpo.db import raw_reads
from dpo.db.models import ChainEvent, Investment, InvestorWallet, Issuer, Offering, Position
from dpo.db.models.enums import Location, OfferingStatus
from dpo.errors import NotFoundError
from dpo.services import chain_events, offering_detail, offering_pages, offerings, policy, positions
from dpo.services.page_window import settle, window
from dpo.services.pagination import paginate
from tests.integration.db import factories
from tests.integration.services.support import (
    address,
    admin,
    issuer_staff,
    make_investor,
    make_offering,
)

Read = Callable[[], Awaitable[Any]]
EVENTS = ChainEvent.__table__
OFFERINGS = Offering.__table__


async def _through_sqlalchemy(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.execute(statement)).all())


def plain(value: Any) -> Any:
    """Rows, pages and results as plain, comparable values, with the types of each value."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain({f: getattr(value, f) for f in value.__dataclass_fields__})
    if hasattr(value, "_mapping"):
        return plain(dict(value._mapping))
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return (type(value).__name__, value)


async def both(monkeypatch: pytest.MonkeyPatch, read: Read) -> tuple[Any, Any]:
    """`read` on the driver connection, then through SQLAlchemy (the previous path)."""
    raw = plain(await read())
    with monkeypatch.context() as patch:
        patch.setattr(raw_reads, "fetch", _through_sqlalchemy)
        previous = plain(await read())
    return raw, previous


async def seed(db: AsyncSession) -> tuple[int, int, str]:
    """Two offerings (one with nulls, one with committed investments), positions, events."""
    full = await make_offering(db, unit_price=Decimal("10.125"))
    sparse = await make_offering(
        db, opens_at=None, max_ticket=None, soft_cap=None, hard_cap=None, onchain_offering_id=7
    )
    investor, _ = await make_investor(db)
    for amount, state in ((Decimal("100.50"), "paid"), (Decimal(250), "issued"), (1, "cancelled")):
        db.add(
            Investment(
                investor_id=investor.id,
                offering_id=full.id,
                amount=amount,
                currency="USD",
                state=state,
                payment_reference=address(),
            )
        )
    holder = address()
    db.add_all(
        [
            Position(
                holder_address=holder,
                offering_id=full.id,
                location=location,
                quantity=quantity,
                as_of_time=factories.now() if quantity else None,
                as_of_block=quantity % 1000 or None,
            )
            for location, quantity in (("onchain", 2**255), ("euroclear", 3), ("ledger", 0))
        ]
    )
    for i in range(12):
        db.add(
            factories.chain_event(
                880_000 + i,
                event_name="Transfer" if i % 3 else "Issued",
                args={"to": holder, "value": str(10**30 + i), "offeringId": "7", "x": [i, None]},
                block_timestamp=None if i % 2 else factories.now(),
            )
        )
    await db.flush()
    return full.id, sparse.id, holder


async def previous_page_events(
    session: AsyncSession, spec: chain_events.EventFilter, **window_args: Any
) -> Any:
    """The events page as it was read before the driver path: values bound into statements
    built per request and run through SQLAlchemy (the oracle the fixed shapes must match)."""
    columns = EVENTS.c
    conditions: list[Any] = []
    if spec.contract is not None:
        conditions.append(
            or_(
                func.lower(columns.contract_address) == spec.contract.lower(),
                columns.contract_name == spec.contract,
            )
        )
    if spec.event_name is not None:
        conditions.append(columns.event_name == spec.event_name)
    if spec.address is not None:
        value = func.jsonb_each_text(columns.args).table_valued("key", "value")
        conditions.append(
            exists().select_from(value).where(func.lower(value.c.value) == spec.address.lower())
        )
    if spec.offering_id is not None:
        offering = await session.get(Offering, spec.offering_id)
        matches = []
        if offering is not None and offering.onchain_offering_id is not None:
            matches.append(columns.args["offeringId"].astext == str(offering.onchain_offering_id))
        if offering is not None and offering.token_address is not None:
            matches.append(func.lower(columns.contract_address) == offering.token_address.lower())
        conditions.append(or_(*matches) if matches else false())
    win = window(**window_args)
    after, before = window_args.get("after"), window_args.get("before")
    low = None if after is None else int(after)
    high = None if before is None else int(before)
    key = columns.id
    query = select(EVENTS).where(*conditions)
    if low is not None:
        query = query.where(key > low)
    if high is not None:
        query = query.where(key < high)
    query = query.order_by(key.desc() if win.backward else key)
    bound = None
    if win.backward and high is not None:
        bound = key >= high
    elif not win.backward and low is not None:
        bound = key <= low
    if bound is not None:
        beyond_column = select(exists().where(*conditions, bound)).scalar_subquery()
        query = query.add_columns(beyond_column.label("_beyond"))
    rows = list((await session.execute(query.limit(win.size + 1))).all())
    beyond = False
    if bound is not None and rows:
        beyond = bool(rows[0]._mapping["_beyond"])
    elif bound is not None:
        beyond = bool(await session.scalar(select(exists().where(*conditions, bound))))
    return settle(win, rows, beyond=beyond)


async def test_events_pages(db: AsyncSession) -> None:
    full, sparse, holder = await seed(db)
    await db.execute(
        update(Offering).where(Offering.id == full).values(token_address=factories.CONTRACT)
    )
    # The oracle reads the offering with session.get, the page reads its row: both must see
    # the database, as two requests would, not an object the seed left in the identity map.
    db.expire_all()
    filters = [
        chain_events.EventFilter(),
        chain_events.EventFilter(event_name="Issued"),
        chain_events.EventFilter(address=holder.upper().replace("0X", "0x")),
        chain_events.EventFilter(offering_id=sparse),
        chain_events.EventFilter(offering_id=full),
        chain_events.EventFilter(offering_id=-1),
        chain_events.EventFilter(contract="nothing"),
        chain_events.EventFilter(contract=factories.CONTRACT.lower(), event_name="Transfer"),
        chain_events.EventFilter(contract="SecurityToken"),
    ]
    windows: list[dict[str, Any]] = [
        {"first": 5, "after": "879999"},
        {"first": 5, "after": "880004"},
        {"last": 3, "before": "880010"},
        {"first": 5, "after": "990000"},  # empty page after a cursor
        {"last": 2, "before": "880000"},  # empty page before one
        {"first": 4},
        {"last": 4},
    ]
    seen = {"items": 0, "beyond": 0, "empty": 0}
    for spec in filters:
        for window_args in windows:
            raw = await chain_events.page_events(db, filter=spec, **window_args)
            previous = await previous_page_events(db, spec, **window_args)
            assert plain(raw) == plain(previous), (spec, window_args)
            seen["items"] += bool(raw.items)
            seen["empty"] += not raw.items
            seen["beyond"] += raw.has_previous_page if "after" in window_args else 0
    assert min(seen.values()) > 0, seen  # every case was met, not only empty pages


async def previous_list_positions(
    session: AsyncSession, principal: Any, **kwargs: Any
) -> positions.PositionList:
    """`list_positions` as it was: values bound into statements built per request, paged by
    the generic `paginate`, all run through SQLAlchemy (the oracle of the fixed shapes)."""
    table, wallets = Position.__table__, InvestorWallet.__table__
    conditions: list[Any] = []
    if principal.role == "issuer":
        owned = select(OFFERINGS.c.id).where(OFFERINGS.c.issuer_id == principal.issuer_id)
        conditions.append(table.c.offering_id.in_(owned))
    elif principal.role not in policy.STAFF_READERS:
        own = select(func.lower(wallets.c.address)).where(
            wallets.c.investor_id == principal.investor_id
        )
        conditions.append(
            or_(
                table.c.investor_id == principal.investor_id,
                func.lower(table.c.holder_address).in_(own),
            )
        )
    if kwargs.get("holder") is not None:
        conditions.append(func.lower(table.c.holder_address) == kwargs["holder"].lower())
    if kwargs.get("offering_id") is not None:
        conditions.append(table.c.offering_id == kwargs["offering_id"])
    if kwargs.get("location") is not None:
        conditions.append(table.c.location == kwargs["location"].value)
    groups = (
        select(table.c.location, func.sum(table.c.quantity).label("quantity"))
        .add_columns(func.count().label("count"))
        .where(*conditions)
        .group_by(table.c.location)
    )
    grouped = groups.subquery()
    triple = func.json_build_array(grouped.c.location, grouped.c.quantity, grouped.c.count)
    totals_column = select(cast(func.json_agg(triple), Text)).scalar_subquery().label("_totals")
    window_args = {k: v for k, v in kwargs.items() if k in ("first", "after", "last", "before")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(raw_reads, "fetch", _through_sqlalchemy)
        page = await paginate(
            session,
            select(table, totals_column).where(*conditions),
            ordering=positions.BY_ID,
            as_rows=True,
            **{"first": None, "after": None} | window_args,
        )
    if page.rows:
        text_ = page.rows[0]._mapping["_totals"]
        triples = [] if text_ is None else json.loads(text_, parse_float=Decimal)
    else:
        triples = [list(row) for row in await session.execute(groups)]
    return positions.PositionList(
        page=page,
        totals={str(name): int(quantity) for name, quantity, _ in triples},
        counts={str(name): int(count) for name, _, count in triples},
    )


async def test_positions_pages(db: AsyncSession) -> None:
    full, _, holder = await seed(db)
    investor, own = await make_investor(db)
    db.add(Position(holder_address=own.address, offering_id=full, location="onchain", quantity=4))
    db.add(
        Position(
            holder_address=address(),
            investor_id=investor.id,
            offering_id=full,
            location="ledger",
            quantity=6,
        )
    )
    await db.flush()
    owner = (await db.get(Offering, full)).issuer_id  # type: ignore[union-attr]
    first_page = await positions.list_positions(db, principal=admin(), holder=holder, first=2)
    cursor = first_page.page.cursors[-1]
    cases: list[tuple[Any, dict[str, Any]]] = [
        (admin(), {"holder": holder, "first": 2}),
        (admin(), {"holder": holder, "first": 2, "after": cursor}),
        (admin(), {"holder": holder, "last": 1, "before": cursor}),
        (admin(), {"holder": holder, "last": 5}),
        (admin(), {"holder": address()}),  # nothing: the totals asked on their own
        (admin(), {"offering_id": full}),
        (admin(), {"offering_id": full, "location": Location.ONCHAIN, "first": 1}),
        (issuer_staff(owner), {"first": 10}),
        (issuer_staff(-1), {"first": 10}),
        (own, {"first": 10}),
        (own, {"holder": own.address}),
    ]
    for principal, kwargs in cases:
        raw = await positions.list_positions(db, principal=principal, **kwargs)
        previous = await previous_list_positions(db, principal, **kwargs)
        assert plain(raw) == plain(previous), (principal, kwargs)


async def test_offerings_and_detail(db: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    full, sparse, _ = await seed(db)
    listed = await offering_pages.list_offerings(db, principal=ANONYMOUS, first=1)
    reads: list[Read] = [
        lambda: offering_pages.list_offerings(db, principal=admin(), first=3, with_count=True),
        lambda: offering_pages.list_offerings(
            db, principal=ANONYMOUS, first=3, after=listed.cursors[0], with_count=True
        ),
        lambda: offering_pages.list_offerings(
            db,
            principal=admin(),
            order_by=offerings.OfferingSort.OPENS_AT,
            descending=True,
            last=2,
        ),
        lambda: offering_pages.list_offerings(
            db, principal=ANONYMOUS, filter=offerings.OfferingFilter(search="none such"), first=2
        ),
        lambda: offering_detail.get_offering_detail(db, principal=admin(), id=full),
        lambda: offering_detail.get_offering_detail(db, principal=ANONYMOUS, id=sparse),
        lambda: offering_detail.list_offering_relations(db, offering_ids=[full, sparse, -1]),
        lambda: offering_detail.list_offering_relations(db, offering_ids=[]),
    ]
    for read in reads:
        raw, previous = await both(monkeypatch, read)
        assert raw == previous


def previous_visible(principal: Any) -> Any:
    """`offerings.visible` as it was: values bound in, an IN list for investors."""
    if policy.can_read_everything(principal):
        return true()
    if policy.has_role(principal, policy.ISSUER) and principal.issuer_id is not None:
        return or_(
            Offering.status == OfferingStatus.OPEN, Offering.issuer_id == principal.issuer_id
        )
    if policy.has_role(principal, policy.INVESTOR):
        return Offering.status.in_(offerings.INVESTOR_STATUSES)
    return Offering.status == OfferingStatus.OPEN


def previous_joined(*columns: Any) -> Any:
    """The offering, its issuer and its totals joined, as read before (through SQLAlchemy)."""
    investments = Investment.__table__
    totals = (
        select(
            func.count(investments.c.id).label("investments_count"),
            func.count(distinct(investments.c.investor_id)).label("investors_count"),
            func.sum(investments.c.amount).label("amount_committed"),
        )
        .where(
            investments.c.offering_id == OFFERINGS.c.id,
            investments.c.state.in_(offerings.COMMITTED_STATES),
        )
        .lateral("totals")
    )
    issuers = Issuer.__table__
    named = [issuers.c[n].label(f"issuer__{n}") for n in ("id", "name", "country", "website")]
    return select(*columns, *named, *totals.c).select_from(
        OFFERINGS.outerjoin(issuers, issuers.c.id == OFFERINGS.c.issuer_id).join(totals, true())
    )


async def test_detail_and_relations_match_the_previous_statements(db: AsyncSession) -> None:
    full, sparse, _ = await seed(db)
    owner = (await db.get(Offering, full)).issuer_id  # type: ignore[union-attr]
    _, investor = await make_investor(db)
    await db.execute(update(Offering).where(Offering.id == sparse).values(status="closed"))
    principals = [admin(), ANONYMOUS, investor, issuer_staff(owner), issuer_staff(-1)]
    found = 0
    for principal in principals:
        for key in ({"id": full}, {"id": sparse}, {"id": -1}, {"isin": "XS0000000000"}):
            by = OFFERINGS.c.id == key["id"] if "id" in key else OFFERINGS.c.isin == key["isin"]
            statement = previous_joined(OFFERINGS).where(by, previous_visible(principal))
            rows = list((await db.execute(statement)).all())
            try:
                detail = await offering_detail.get_offering_detail(db, principal=principal, **key)
            except NotFoundError:
                assert rows == []
                continue
            found += 1
            expected = offering_detail.OfferingDetail(
                offering=rows[0],
                issuer=offering_detail._issuer_of(rows[0]),
                totals=offering_detail._totals_of(rows[0]),
            )
            assert plain(detail) == plain(expected)
    assert found >= 4  # visible and hidden cases both met
    for ids in ([full, sparse, -1], [], [sparse]):
        statement = previous_joined(OFFERINGS.c.id).where(OFFERINGS.c.id.in_(ids))
        expected_relations = {
            row.id: (offering_detail._issuer_of(row), offering_detail._totals_of(row))
            for row in await db.execute(statement)
        }
        relations = await offering_detail.list_offering_relations(db, offering_ids=ids)
        assert plain(relations) == plain(expected_relations)

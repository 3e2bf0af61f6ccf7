"""Positions per role with totals, FX rates, reconciliation breaks, job runs and the feed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS
from dpo.db.feed import next_feed_sequences
from dpo.db.models import (
    ChainEvent,
    FxRate,
    JobRun,
    Position,
    ReconciliationBreak,
    ReconciliationRun,
)
from dpo.db.models.enums import BreakStatus, Location
from dpo.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from dpo.services import chain_events, market, ops, positions
from tests.integration.db import factories
from tests.integration.services.support import (
    address,
    admin,
    audit_rows,
    issuer_staff,
    make_investor,
    make_offering,
    now,
)
from tests.integration.services.support import ops as ops_principal


async def test_positions_per_role_with_totals(db: AsyncSession) -> None:
    offering = await make_offering(db)
    other = await make_offering(db)
    investor, me = await make_investor(db)
    assert me.address is not None
    mine = me.address
    theirs = address()
    db.add_all(
        [
            Position(holder_address=mine, offering_id=offering.id, location="onchain", quantity=7),
            Position(
                holder_address=mine, offering_id=offering.id, location="euroclear", quantity=3
            ),
            Position(
                holder_address=mine, offering_id=other.id, location="onchain", quantity=2**255
            ),
            Position(holder_address=theirs, offering_id=other.id, location="onchain", quantity=5),
        ]
    )
    await db.flush()
    own = await positions.list_positions(db, principal=me)
    assert len(own.positions) == 3
    assert own.totals == {"onchain": 7 + 2**255, "euroclear": 3}
    one = await positions.list_positions(
        db, principal=me, offering_id=offering.id, location=Location.ONCHAIN
    )
    assert [p.quantity for p in one.positions] == [7]
    # Read as rows of the table (columns by name), never as ORM objects.
    assert not any(isinstance(p, Position) for p in own.positions)
    assert {p.holder_address for p in own.positions} == {mine}
    # The totals ride on the page's statement; an empty page still has them, asked alone.
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    connection = (await db.connection()).sync_connection
    assert connection is not None
    event.listen(connection, "before_cursor_execute", count)
    try:
        again = await positions.list_positions(db, principal=me)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(statements) == 1
    assert (again.totals, again.counts) == (own.totals, own.counts)
    beyond = await positions.list_positions(db, principal=me, after=own.page.cursors[-1])
    assert beyond.positions == []
    assert (beyond.totals, beyond.counts) == ({"onchain": 7 + 2**255, "euroclear": 3}, own.counts)
    assert sum(own.counts.values()) == 3
    assert one.totals == {"onchain": 7}
    by_holder = await positions.list_positions(
        db, principal=me, holder=mine.upper()[:2] + mine[2:].upper()
    )
    assert len(by_holder.positions) == 3
    with pytest.raises(ForbiddenError):
        await positions.list_positions(db, principal=me, holder=theirs)
    issuer = await positions.list_positions(db, principal=issuer_staff(other.issuer_id))
    assert issuer.totals == {"onchain": 2**255 + 5}
    everyone = await positions.list_positions(db, principal=admin(), holder=theirs)
    assert everyone.totals == {"onchain": 5}
    with pytest.raises(UnauthenticatedError):
        await positions.list_positions(db, principal=ANONYMOUS)
    del investor


async def test_fx_rates_latest_or_on_a_day(db: AsyncSession) -> None:
    db.add_all(
        [
            FxRate(base="EUR", quote="XTS", rate="1.05", as_of=date(2026, 1, 2), source="ecb"),
            FxRate(base="EUR", quote="XTS", rate="1.07", as_of=date(2026, 1, 5), source="ecb"),
            FxRate(base="EUR", quote="XTS", rate="1.06", as_of=date(2026, 1, 5), source="xetra"),
        ]
    )
    await db.flush()
    latest = await market.list_fx_rates(db, base="eur", quote="XTS")
    assert sorted((r.source, str(r.rate)) for r in latest) == [
        ("ecb", "1.070000000000"),
        ("xetra", "1.060000000000"),
    ]
    # A Saturday gets Friday's fixing.
    saturday = await market.list_fx_rates(db, base="EUR", quote="XTS", on=date(2026, 1, 3))
    assert [(r.source, r.as_of) for r in saturday] == [("ecb", date(2026, 1, 2))]
    assert await market.list_fx_rates(db, base="EUR", quote="XTS", on=date(2025, 1, 1)) == []
    with pytest.raises(ValidationError):
        await market.list_fx_rates(db, base="EURO")


async def test_breaks_resolve_and_job_runs(db: AsyncSession) -> None:
    run = ReconciliationRun()
    item = factories.reconciliation_break(run, holder=address())
    db.add_all(
        [
            run,
            item,
            JobRun(
                job="sync_fx_rates_test",
                status="succeeded",
                started_at=now() - timedelta(minutes=1),
                finished_at=now(),
            ),
        ]
    )
    await db.flush()
    for who in (ANONYMOUS,):
        with pytest.raises(UnauthenticatedError):
            await ops.list_breaks(db, principal=who)
    _, investor = await make_investor(db)
    for who in (investor, issuer_staff(1)):
        with pytest.raises(ForbiddenError):
            await ops.list_breaks(db, principal=who)
        with pytest.raises(ForbiddenError):
            await ops.resolve_break(db, principal=who, break_id=item.id)
        with pytest.raises(ForbiddenError):
            await ops.list_job_runs(db, principal=who)
    listed = (
        await ops.list_breaks(db, principal=ops_principal(), status=BreakStatus.OPEN, first=100)
    ).rows
    assert item.id in [b.id for b in listed]
    await ops.resolve_break(db, principal=ops_principal(), break_id=item.id, note="booked")
    assert item.status == "resolved"
    assert item.resolved_by == "user:2"
    with pytest.raises(ConflictError):
        await ops.resolve_break(db, principal=admin(), break_id=item.id)
    with pytest.raises(NotFoundError):
        await ops.resolve_break(db, principal=admin(), break_id=10**12)
    with pytest.raises(ValidationError):
        await ops.resolve_break(db, principal=admin(), break_id=item.id, status=BreakStatus.OPEN)
    [row] = await audit_rows(db, "reconciliation_break", item.id)
    assert row.before == {"status": "open", "resolved_by": None, "resolved_at": None, "note": None}
    assert row.after is not None
    assert row.after["note"] == "booked"
    runs = await ops.list_job_runs(db, principal=admin(), job="sync_fx_rates_test")
    assert [r.job for r in runs] == ["sync_fx_rates_test"]
    still_open = await db.scalar(
        select(func.count())
        .select_from(ReconciliationBreak)
        .where(ReconciliationBreak.id == item.id, ReconciliationBreak.status == "open")
    )
    assert still_open == 0


async def test_event_history_filters_and_cursor(db: AsyncSession) -> None:
    holder = address()
    offering = await make_offering(db, onchain_offering_id=987654321)
    ids = list(await next_feed_sequences(db, 3))
    db.add_all(
        [
            factories.chain_event(
                ids[0],
                contract_name="STO",
                event_name="InvestmentReceived",
                args={"offeringId": "987654321", "investor": holder},
            ),
            factories.chain_event(
                ids[1], event_name="Transfer", args={"from": holder, "to": address(), "value": "5"}
            ),
            factories.chain_event(
                ids[2], contract_name="STO", event_name="OfferingClosed", args={"offeringId": "1"}
            ),
        ]
    )
    await db.flush()
    start = ids[0] - 1
    every = await chain_events.list_events(db, after=start)
    assert [e.id for e in every] == ids
    page = await chain_events.list_events(db, after=start, first=2)
    assert [e.id for e in page] == ids[:2]
    rest = await chain_events.list_events(db, after=page[-1].id)
    assert [e.id for e in rest] == ids[2:]
    by_address = await chain_events.list_events(
        db,
        after=start,
        filter=chain_events.EventFilter(address=holder.upper()[:2] + holder[2:].upper()),
    )
    assert [e.id for e in by_address] == ids[:2]
    by_offering = await chain_events.list_events(
        db, after=start, filter=chain_events.EventFilter(offering_id=offering.id)
    )
    assert [e.id for e in by_offering] == ids[:1]
    by_name = await chain_events.list_events(
        db,
        after=start,
        filter=chain_events.EventFilter(contract="STO", event_name="OfferingClosed"),
    )
    assert [e.id for e in by_name] == ids[2:]
    unknown = await chain_events.list_events(
        db, after=start, filter=chain_events.EventFilter(offering_id=10**12)
    )
    assert unknown == []
    assert (
        await chain_events.count_events(
            db, filter=chain_events.EventFilter(offering_id=offering.id)
        )
        == 1
    )
    # A page reads the same items as rows of the table, never as ORM objects.
    cases = {
        None: ids,
        chain_events.EventFilter(address=holder.upper()[:2] + holder[2:].upper()): ids[:2],
        chain_events.EventFilter(offering_id=offering.id): ids[:1],
        chain_events.EventFilter(contract="STO", event_name="OfferingClosed"): ids[2:],
        chain_events.EventFilter(offering_id=10**12): [],
    }
    for spec, expected in cases.items():
        rows = await chain_events.page_events(db, filter=spec, after=str(start))
        assert [row.id for row in rows.items] == expected
        assert not any(isinstance(row, ChainEvent) for row in rows.items)
        assert not rows.has_previous_page
        assert not rows.has_next_page
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    connection = (await db.connection()).sync_connection
    assert connection is not None
    event.listen(connection, "before_cursor_execute", count)
    try:
        # The page and whether items lie before its cursor: one statement.
        middle = await chain_events.page_events(db, first=1, after=str(ids[0]))
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(statements) == 1
    # An empty page has no row to carry it: asked on its own.
    tail = await chain_events.page_events(db, first=5, after=str(ids[2]))
    assert tail.items == []
    assert tail.has_previous_page
    assert [row.id for row in middle.items] == ids[1:2]
    assert middle.has_previous_page
    assert middle.has_next_page
    back = await chain_events.page_events(db, last=1, before=str(ids[2]))
    assert [(row.id, row.event_name, row.args["value"]) for row in back.items] == [
        (ids[1], "Transfer", "5")
    ]
    assert back.has_previous_page
    assert back.has_next_page

"""Positions, FX rates, breaks, job runs and the feed history through the GraphQL schema."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS
from dpo.db.feed import next_feed_sequences
from dpo.db.models import FxRate, JobRun, Position, ReconciliationBreak, ReconciliationRun
from schema.relay import to_global_id
from tests.integration.api.conftest import Execute, code
from tests.integration.db import factories
from tests.integration.services.support import (
    address,
    admin,
    issuer_staff,
    make_investor,
    make_offering,
    now,
    ops,
)

POSITIONS = """query($holder: Address, $location: Location) {
  positions(holder: $holder, location: $location) {
    totalCount totals { location quantity }
    edges { node { holder quantity location offeringId offering { isin } } }
  }
}"""


async def test_positions_with_totals_per_role(gql: Execute, db: AsyncSession) -> None:
    offering = await make_offering(db)
    _, me = await make_investor(db)
    assert me.address is not None
    stranger = address()
    big = 2**256 - 1
    db.add_all(
        [
            Position(
                holder_address=me.address, offering_id=offering.id, location="onchain", quantity=big
            ),
            Position(
                holder_address=me.address, offering_id=offering.id, location="ledger", quantity=4
            ),
            Position(
                holder_address=stranger, offering_id=offering.id, location="onchain", quantity=1
            ),
        ]
    )
    await db.flush()
    own = (await gql(POSITIONS, me))["data"]["positions"]
    assert own["totalCount"] == 2
    assert own["totals"] == [
        {"location": "LEDGER", "quantity": "4"},
        {"location": "ONCHAIN", "quantity": str(big)},
    ]
    onchain = (await gql(POSITIONS, me, location="ONCHAIN"))["data"]["positions"]
    assert [e["node"]["quantity"] for e in onchain["edges"]] == [str(big)]
    assert onchain["edges"][0]["node"]["offeringId"] == to_global_id("Offering", offering.id)
    assert onchain["edges"][0]["node"]["offering"] == {"isin": offering.isin}
    assert code(await gql(POSITIONS, me, holder=stranger)) == "FORBIDDEN"
    assert code(await gql(POSITIONS, ANONYMOUS)) == "UNAUTHENTICATED"
    assert code(await gql(POSITIONS, me, holder="0x123")) == "VALIDATION"
    issuer = (await gql(POSITIONS, issuer_staff(offering.issuer_id)))["data"]["positions"]
    assert issuer["totalCount"] == 3
    node = "query($id: ID!) { node(id: $id) { ... on Position { quantity } } }"
    stranger_row = await db.scalar(select(Position.id).where(Position.holder_address == stranger))
    assert stranger_row is not None
    stranger_id = to_global_id("Position", stranger_row)
    assert (await gql(node, me, id=stranger_id))["data"] == {"node": None}
    assert (await gql(node, ANONYMOUS, id=stranger_id))["data"] == {"node": None}
    assert (await gql(node, admin(), id=stranger_id))["data"] == {"node": {"quantity": "1"}}
    theirs = (await gql(POSITIONS, admin(), holder=stranger))["data"]["positions"]
    assert theirs["edges"][0]["node"]["holder"] != stranger  # checksummed on output
    assert theirs["edges"][0]["node"]["holder"].lower() == stranger


async def test_fx_rates_are_public(gql: Execute, db: AsyncSession) -> None:
    db.add(
        FxRate(base="EUR", quote="XAU", rate="0.000412345678", as_of=date(2026, 3, 2), source="ecb")
    )
    await db.flush()
    query = """query($on: Date) { fxRates(base: "EUR", quote: "XAU", on: $on) {
      base quote rate asOf source } }"""
    result = await gql(query, on="2026-03-04")
    assert result["data"]["fxRates"] == [
        {
            "base": "EUR",
            "quote": "XAU",
            "rate": "0.000412345678",
            "asOf": "2026-03-02",
            "source": "ecb",
        }
    ]
    assert (await gql(query, on="2026-03-01"))["data"]["fxRates"] == []
    assert code(await gql('{ fxRates(base: "EURO") { rate } }')) == "VALIDATION"


async def test_breaks_and_job_runs_for_ops_only(gql: Execute, db: AsyncSession) -> None:
    run = ReconciliationRun()
    item = factories.reconciliation_break(run, holder=address())
    db.add_all(
        [
            run,
            item,
            JobRun(
                job="api_test_job",
                status="failed",
                error="boom",
                started_at=now() - timedelta(minutes=2),
                finished_at=now(),
            ),
        ]
    )
    await db.flush()
    breaks = "{ reconciliationBreaks(status: OPEN, first: 100) { edges { node { id } } } }"
    _, investor = await make_investor(db)
    for refused, expected in (
        (ANONYMOUS, "UNAUTHENTICATED"),
        (investor, "FORBIDDEN"),
        (issuer_staff(1), "FORBIDDEN"),
    ):
        assert code(await gql(breaks, refused)) == expected
        assert code(await gql("{ jobRuns { job } }", refused)) == expected
    listed = (await gql(breaks, ops()))["data"]["reconciliationBreaks"]
    break_id = to_global_id("ReconciliationBreak", item.id)
    assert break_id in [e["node"]["id"] for e in listed["edges"]]
    resolve = """mutation($id: ID!) { resolveBreak(id: $id, status: IGNORED, note: "dust") {
      status resolvedBy note } }"""
    assert code(await gql(resolve, investor, id=break_id)) == "FORBIDDEN"
    still = await db.scalar(
        select(ReconciliationBreak.status).where(ReconciliationBreak.id == item.id)
    )
    assert still == "open"
    done = await gql(resolve, ops(), id=break_id)
    assert done["data"]["resolveBreak"] == {
        "status": "IGNORED",
        "resolvedBy": "user:2",
        "note": "dust",
    }
    assert code(await gql(resolve, admin(), id=break_id)) == "CONFLICT"
    node = "query($id: ID!) { node(id: $id) { ... on ReconciliationBreak { status } } }"
    assert (await gql(node, investor, id=break_id))["data"] == {"node": None}
    assert (await gql(node, ops(), id=break_id))["data"] == {"node": {"status": "IGNORED"}}
    runs = await gql('{ jobRuns(job: "api_test_job") { job status error counts } }', admin())
    assert runs["data"]["jobRuns"] == [
        {"job": "api_test_job", "status": "failed", "error": "boom", "counts": {}}
    ]


async def test_event_history_is_public_and_resumable(gql: Execute, db: AsyncSession) -> None:
    ids = list(await next_feed_sequences(db, 3))
    holder = address()
    db.add_all([factories.chain_event(i, args={"to": holder, "value": str(2**200)}) for i in ids])
    await db.flush()
    query = """query($after: String, $filter: EventFilter) {
      events(first: 2, after: $after, filter: $filter) {
        hasNextPage endCursor edges { cursor node { sequence eventName args removed } }
      } }"""
    start = str(ids[0] - 1)
    first = (await gql(query, after=start))["data"]["events"]
    assert [e["cursor"] for e in first["edges"]] == [str(i) for i in ids[:2]]
    assert first["hasNextPage"] is True
    assert first["edges"][0]["node"]["args"]["value"] == str(2**200)
    rest = (await gql(query, after=first["endCursor"]))["data"]["events"]
    assert [e["node"]["sequence"] for e in rest["edges"]] == [str(ids[2])]
    assert rest["hasNextPage"] is False
    filtered = await gql(query, after=start, filter={"address": holder, "eventName": "Nope"})
    assert filtered["data"]["events"]["edges"] == []
    assert code(await gql(query, after="abc")) == "VALIDATION"
    assert code(await gql(query, after=start, filter={"address": "0xzz"})) == "VALIDATION"

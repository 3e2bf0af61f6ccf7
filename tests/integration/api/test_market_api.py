"""instrumentPrices (public) and isinRequests (ops, admin, the offering's issuer)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS
from dpo.db.models import InstrumentPrice, IsinRequest, Issuer
from dpo.services.codes import isin_check_digit
from schema.relay import to_global_id
from tests.integration.api.conftest import Execute, code
from tests.integration.services.support import (
    admin,
    issuer_staff,
    make_investor,
    make_offering,
    now,
    ops,
)

PRICES = """query($isin: ISIN, $first: Int) { instrumentPrices(isin: $isin, first: $first) {
  totalCount edges { node { isin source venue currency price asOf } } } }"""
REQUESTS = """query($status: IsinRequestStatus) { isinRequests(status: $status) {
  totalCount edges { node { offeringId requestRef status isin reason } } } }"""


def valid_isin() -> str:
    body = f"XS{secrets.randbelow(10**9):09d}"
    return body + str(isin_check_digit(body))


async def test_prices_are_public_newest_first_and_filtered(gql: Execute, db: AsyncSession) -> None:
    one = await make_offering(db, isin=valid_isin())
    two = await make_offering(db, isin=valid_isin())
    at = now()
    db.add_all(
        [
            InstrumentPrice(
                isin=one.isin,
                source="xetra",
                venue="XETR",
                currency="EUR",
                price=Decimal("101.25"),
                as_of=at - timedelta(days=1),
            ),
            InstrumentPrice(
                isin=one.isin,
                source="xetra",
                venue="XETR",
                currency="EUR",
                price=Decimal("102.5"),
                as_of=at,
            ),
            InstrumentPrice(
                isin=two.isin,
                source="xetra",
                venue="XETR",
                currency="USD",
                price=Decimal("7"),
                as_of=at - timedelta(hours=1),
            ),
        ]
    )
    await db.flush()
    every = (await gql(PRICES, ANONYMOUS))["data"]["instrumentPrices"]
    assert every["totalCount"] == 3
    assert [(e["node"]["isin"], e["node"]["price"]) for e in every["edges"]] == [
        (one.isin, "102.5"),
        (two.isin, "7"),
        (one.isin, "101.25"),
    ]
    assert one.isin is not None
    mine = (await gql(PRICES, ANONYMOUS, isin=one.isin.lower()))["data"]["instrumentPrices"]
    assert [e["node"]["price"] for e in mine["edges"]] == ["102.5", "101.25"]
    assert mine["edges"][0]["node"]["venue"] == "XETR"
    for bad in ("XS123", "XS0000000001", 12, "X" * 5000):
        assert code(await gql(PRICES, ANONYMOUS, isin=bad)) == "VALIDATION", bad
    assert code(await gql(PRICES, ANONYMOUS, first=101)) == "LIMIT_EXCEEDED"


async def test_isin_requests_by_role(gql: Execute, db: AsyncSession) -> None:
    acme, bolt = Issuer(name="Acme"), Issuer(name="Bolt")
    waiting = await make_offering(db, issuer=acme, isin=None, status="draft")
    allocated = await make_offering(db, issuer=acme, isin=valid_isin())
    refused = await make_offering(db, issuer=bolt, isin=None, status="draft")
    db.add_all(
        [
            IsinRequest(
                offering_id=waiting.id, request_ref=f"DPO-OFFERING-{waiting.id}", status="pending"
            ),
            IsinRequest(
                offering_id=allocated.id,
                request_ref=f"DPO-OFFERING-{allocated.id}",
                status="allocated",
                isin=allocated.isin,
            ),
            IsinRequest(
                offering_id=refused.id,
                request_ref=f"DPO-OFFERING-{refused.id}",
                status="rejected",
                reason="issuer not onboarded",
            ),
        ]
    )
    await db.flush()
    staff = (await gql(REQUESTS, ops()))["data"]["isinRequests"]
    assert staff["totalCount"] == 3
    assert [
        (e["node"]["status"], e["node"]["isin"], e["node"]["reason"]) for e in staff["edges"]
    ] == [
        ("PENDING", None, None),
        ("ALLOCATED", allocated.isin, None),
        ("REJECTED", None, "issuer not onboarded"),
    ]
    assert staff["edges"][0]["node"]["offeringId"] == to_global_id("Offering", waiting.id)
    rejected = (await gql(REQUESTS, admin(), status="REJECTED"))["data"]["isinRequests"]
    assert [e["node"]["requestRef"] for e in rejected["edges"]] == [f"DPO-OFFERING-{refused.id}"]
    own = (await gql(REQUESTS, issuer_staff(acme.id)))["data"]["isinRequests"]
    assert own["totalCount"] == 2
    other = (await gql(REQUESTS, issuer_staff(bolt.id)))["data"]["isinRequests"]
    assert [e["node"]["status"] for e in other["edges"]] == ["REJECTED"]
    _, investor = await make_investor(db)
    assert code(await gql(REQUESTS, investor)) == "FORBIDDEN"
    assert code(await gql(REQUESTS, ANONYMOUS)) == "UNAUTHENTICATED"
    assert code(await gql(REQUESTS, ops(), status="LOST")) == "VALIDATION"

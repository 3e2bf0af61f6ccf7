"""Offerings through a real uvicorn server: public reads, refused mutations, bad scalars."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dpo.db.models import AuditLog, Issuer, Offering
from dpo.services.codes import isin_check_digit
from schema.relay import to_global_id
from tests.e2e.conftest import base_env, web_server
from tests.integration.api.committed import Api

LIST = """query($f: OfferingFilter, $after: String) {
  offerings(filter: $f, first: 2, after: $after, orderBy: {field: NAME}) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id name status unitPrice opensAt onchainOfferingId unitsSold
                   tokenAddress issuer { name } totals { investmentsCount amountCommitted } } }
  } }"""
TOKEN = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
CREATE = """mutation($input: CreateOfferingInput!) { createOffering(input: $input) { id } }"""


def new_isin() -> str:
    body = "XS" + secrets.token_hex(5).upper()[:9]
    return body + str(isin_check_digit(body))


@pytest.fixture(scope="module")
async def world(api: Api) -> dict[str, Any]:
    """Three open offerings and a draft of one issuer."""
    async with api.runtime.sessions() as session, session.begin():
        issuer = Issuer(name="Http Capital", country="LU")
        rows = []
        for i, (name, status) in enumerate(
            (("Alpha", "open"), ("Beta", "open"), ("Gamma", "open"), ("Delta", "draft"))
        ):
            rows.append(
                Offering(
                    issuer=issuer,
                    isin=new_isin(),
                    name=name,
                    symbol=name.upper(),
                    security_type="fund",
                    regulation="reg_s",
                    currency="EUR",
                    unit_price=Decimal("1.25"),
                    status=status,
                    units_sold=2**200,
                    onchain_offering_id=2**70 + i,
                    token_address=TOKEN,
                    opens_at=datetime(2026, 1, 1, tzinfo=UTC),
                    closes_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=400),
                )
            )
        session.add_all(rows)
    return {"issuer": issuer.id, "draft": rows[3].id}


async def counts(api: Api) -> tuple[int, int]:
    async with api.runtime.sessions() as session:
        offerings = await session.scalar(select(func.count()).select_from(Offering))
        audits = await session.scalar(select(func.count()).select_from(AuditLog))
    return int(offerings or 0), int(audits or 0)


async def post(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_offerings_over_http(api: Api, world: dict[str, Any], redis_url: str) -> None:
    env = base_env(DATABASE_URL=api.url, REDIS_URL=redis_url, RATE_LIMIT_ANON="1000/min")
    valid = {
        "issuerId": to_global_id("Issuer", world["issuer"]),
        "isin": new_isin(),
        "name": "Epsilon",
        "symbol": "EPS",
        "securityType": "FUND",
        "regulation": "REG_S",
        "currency": "EUR",
        "unitPrice": "1",
    }
    before = await counts(api)
    with web_server(env) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            first = await post(client, LIST)
            second = await post(
                client, LIST, after=first["data"]["offerings"]["pageInfo"]["endCursor"]
            )
            drafts = await post(client, LIST, f={"status": "DRAFT"})
            draft = to_global_id("Offering", world["draft"])
            hidden = await post(client, f'{{ offering(id: "{draft}") {{ name }} }}')
            anonymous = await post(client, CREATE, input=valid)
            bad_isin = await post(client, CREATE, input={**valid, "isin": "US0378331006"})
            bad_price = await post(client, CREATE, input={**valid, "unitPrice": 1.5})
            bad_time = await post(client, CREATE, input={**valid, "opensAt": "2030-01-01"})
            bad_literal = await post(client, '{ offering(isin: "DE000BASF112") { id } }')
            too_many = await post(client, "{ offerings(first: 500) { totalCount } }")
            by_token = await post(
                client, LIST, f={"tokenAddress": TOKEN.lower(), "onchainOfferingId": str(2**70 + 1)}
            )
            by_int = await post(client, LIST, f={"onchainOfferingId": 2**70 + 2})
            bad_filters = [
                await post(client, LIST, f=f)
                for f in (
                    {"tokenAddress": TOKEN.replace("aA", "Aa", 1)},
                    {"tokenAddress": "0x1234"},
                    {"onchainOfferingId": "1.5"},
                    {"onchainOfferingId": 1.0},
                    {"onchainOfferingId": str(2**256)},
                    {"currency": "EURO"},
                    {"currency": "XXY"},
                )
            ]
    page = first["data"]["offerings"]
    assert page["totalCount"] == 3
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["name"] for e in page["edges"]] == ["Alpha", "Beta"]
    node = page["edges"][0]["node"]
    assert node["unitPrice"] == "1.25"
    assert node["opensAt"] == "2026-01-01T00:00:00Z"
    assert node["unitsSold"] == str(2**200)
    assert node["onchainOfferingId"] == str(2**70)
    assert node["tokenAddress"] == TOKEN
    assert node["issuer"] == {"name": "Http Capital"}
    assert node["totals"] == {"investmentsCount": 0, "amountCommitted": "0"}
    assert [e["node"]["name"] for e in second["data"]["offerings"]["edges"]] == ["Gamma"]
    assert drafts["data"]["offerings"]["edges"] == []
    assert code(hidden) == "NOT_FOUND"
    assert code(anonymous) == "UNAUTHENTICATED"
    for refused in (bad_isin, bad_price, bad_time, bad_literal):
        assert code(refused) == "VALIDATION"
    assert "check digit" in bad_isin["errors"][0]["message"]
    assert code(too_many) == "LIMIT_EXCEEDED"
    assert [e["node"]["name"] for e in by_token["data"]["offerings"]["edges"]] == ["Beta"]
    assert [e["node"]["name"] for e in by_int["data"]["offerings"]["edges"]] == ["Gamma"]
    assert [code(b) for b in bad_filters] == ["VALIDATION"] * 7
    assert await counts(api) == before

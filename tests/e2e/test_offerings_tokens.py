"""Offering mutations through real HTTP with real bearer tokens, each role allowed or refused."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from sqlalchemy import select

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.models import AuditLog, Issuer
from dpo.services.codes import isin_check_digit
from dpo.settings import Settings
from schema.relay import to_global_id
from tests.e2e.conftest import base_env, web_server
from tests.integration.api.committed import Api

SECRET = "e2e-offerings-" + secrets.token_hex(32)
CREATE = """mutation($input: CreateOfferingInput!) {
  createOffering(input: $input) { id status issuer { name } } }"""


def new_isin() -> str:
    body = "XS" + secrets.token_hex(5).upper()[:9]
    return body + str(isin_check_digit(body))


async def issuers(api: Api) -> tuple[int, int]:
    async with api.runtime.sessions() as session, session.begin():
        mine, theirs = Issuer(name="Token Capital"), Issuer(name="Other Capital")
        session.add_all([mine, theirs])
    return mine.id, theirs.id


def token(principal: Principal) -> str:
    settings = Settings.model_validate({"DJANGO_SECRET_KEY": SECRET})
    return create_access_token(principal, settings=settings).token


async def post(
    client: httpx.AsyncClient, query: str, bearer: str, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {bearer}", "X-Request-ID": "e2e-offerings-1"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


async def test_roles_with_real_tokens(api: Api, redis_url: str) -> None:
    mine, theirs = await issuers(api)
    staff = token(Principal(kind=Kind.STAFF, role="issuer", user_id=11, issuer_id=mine))
    other = token(Principal(kind=Kind.STAFF, role="issuer", user_id=12, issuer_id=theirs))
    investor = token(Principal(kind=Kind.WALLET, role="investor", address="0x" + "ab" * 20))
    admin = token(Principal(kind=Kind.STAFF, role="admin", user_id=13))
    draft = {
        "issuerId": to_global_id("Issuer", mine),
        "isin": new_isin(),
        "name": "Tok",
        "symbol": "TOK",
        "securityType": "DEBT",
        "regulation": "REG_CF",
        "currency": "GBP",
        "unitPrice": "100",
        "hardCap": "50000",
        "opensAt": "2030-01-01T00:00:00Z",
        "closesAt": "2030-06-01T00:00:00Z",
    }
    env = base_env(
        DATABASE_URL=api.url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET,
        RATE_LIMIT_USER="1000/min",
        RATE_LIMIT_ANON="1000/min",
    )
    with web_server(env) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            by_investor = await post(client, CREATE, investor, input=draft)
            for_other = await post(client, CREATE, other, input=draft)
            created = await post(client, CREATE, staff, input=draft)
            oid = created["data"]["createOffering"]["id"]
            hidden = await post(client, f'{{ offering(id: "{oid}") {{ name }} }}', other)
            seen = await post(client, f'{{ offering(id: "{oid}") {{ name }} }}', admin)
            opened_by_other = await post(
                client, f'mutation {{ openOffering(id: "{oid}") {{ status }} }}', other
            )
            opened = await post(
                client, f'mutation {{ openOffering(id: "{oid}") {{ status }} }}', staff
            )
            edited = await post(
                client,
                "mutation($i: UpdateOfferingInput!) { updateOffering(input: $i) { name } }",
                staff,
                i={"id": oid, "name": "Late"},
            )
            closed = await post(
                client, f'mutation {{ closeOffering(id: "{oid}") {{ status }} }}', admin
            )
    assert code(by_investor) == "FORBIDDEN"
    assert code(for_other) == "FORBIDDEN"
    assert created["data"]["createOffering"]["status"] == "DRAFT"
    assert created["data"]["createOffering"]["issuer"] == {"name": "Token Capital"}
    assert code(hidden) == "NOT_FOUND"
    assert seen["data"]["offering"] == {"name": "Tok"}
    assert code(opened_by_other) == "NOT_FOUND"
    assert opened["data"]["openOffering"] == {"status": "OPEN"}
    assert code(edited) == "CONFLICT"
    assert closed["data"]["closeOffering"] == {"status": "CLOSED"}
    async with api.runtime.sessions() as session:
        rows = (
            await session.scalars(
                select(AuditLog).where(AuditLog.entity_type == "offering").order_by(AuditLog.id)
            )
        ).all()
    assert [(r.actor, r.action) for r in rows] == [
        ("user:11", "offering.create"),
        ("user:11", "offering.open"),
        ("user:13", "offering.closed"),
    ]
    assert {r.request_id for r in rows} == {"e2e-offerings-1"}

"""Investor, investment and public-data queries through a real uvicorn server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.models import AuditLog, Investment, Investor, InvestorWallet, Issuer, Offering
from dpo.db.session import create_engine, session_factory, unit_of_work
from dpo.settings import get_settings
from schema.relay import to_global_id
from tests.e2e.conftest import base_env, web_server

SECRET = "e2e-" + secrets.token_hex(32)
SUBMIT = """mutation($input: SubmitInvestmentInput!) {
  submitInvestment(input: $input) { id state units paymentReference } }"""


async def _seed(url: str) -> dict[str, Any]:
    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            now = datetime.now(UTC)
            offering = Offering(
                issuer=Issuer(name="E2E Capital"),
                isin=f"XE{secrets.randbelow(10**9):09d}0",
                name="E2E",
                symbol="E2E",
                security_type="equity",
                regulation="reg_s",
                currency="EUR",
                unit_price=Decimal("5"),
                min_ticket=Decimal("5"),
                max_ticket=Decimal("500"),
                hard_cap=Decimal("1000"),
                soft_cap=Decimal("0"),
                opens_at=now - timedelta(days=1),
                closes_at=now + timedelta(days=1),
                status="open",
                allowed_countries=[],
            )
            investor = Investor(
                full_name="E2E Investor",
                country="DE",
                kyc_status="approved",
                email=f"e2e{secrets.token_hex(6)}@example.com",
            )
            session.add_all([offering, investor])
            await session.flush()
            address = "0x" + secrets.token_hex(20)
            session.add(InvestorWallet(investor_id=investor.id, address=address, chain_id=31337))
        return {
            "offering": offering.id,
            "issuer": offering.issuer_id,
            "investor": investor.id,
            "address": address,
        }
    finally:
        await engine.dispose()


async def _investments(url: str, offering_id: int) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Investment)
                    .where(Investment.offering_id == offering_id)
                )
                or 0
            )
    finally:
        await engine.dispose()


async def _cleanup(url: str, seeded: dict[str, Any]) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            orders = (
                await session.scalars(
                    select(Investment.id).where(Investment.offering_id == seeded["offering"])
                )
            ).all()
            await session.execute(
                delete(AuditLog).where(
                    AuditLog.entity_type == "investment",
                    AuditLog.entity_id.in_([str(o) for o in orders]),
                )
            )
            await session.execute(
                delete(Investment).where(Investment.offering_id == seeded["offering"])
            )
            await session.execute(delete(Investor).where(Investor.id == seeded["investor"]))
            await session.execute(delete(Offering).where(Offering.id == seeded["offering"]))
            await session.execute(delete(Issuer).where(Issuer.id == seeded["issuer"]))
    finally:
        await engine.dispose()


@pytest.fixture
def seeded(migrated_url: str) -> Iterator[dict[str, Any]]:
    """An open Reg S EUR offering and an approved investor, committed and removed after."""
    rows = asyncio.run(_seed(migrated_url))
    yield rows
    asyncio.run(_cleanup(migrated_url, rows))


def post(base: str, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        base + "/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


def test_anonymous_reads_public_data_and_is_refused_the_rest(
    migrated_url: str, redis_url: str, seeded: dict[str, Any]
) -> None:
    order = {
        "offeringId": to_global_id("Offering", seeded["offering"]),
        "amount": "50",
        "currency": "EUR",
    }
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, DJANGO_SECRET_KEY=SECRET)
    with web_server(env) as base:
        rates = post(base, '{ fxRates(base: "EUR") { rate } }')
        events = post(base, "{ events(first: 5) { hasNextPage edges { cursor } } }")
        me = post(base, "{ me { id } }")
        investors = post(base, "{ investors { totalCount } }")
        submit = post(base, SUBMIT, input=order)
        bad_scalar = post(base, SUBMIT, input={**order, "amount": "NaN"})
    assert rates.get("errors") is None
    assert isinstance(rates["data"]["fxRates"], list)
    assert events.get("errors") is None
    assert error_code(me) == "UNAUTHENTICATED"
    assert error_code(investors) == "UNAUTHENTICATED"
    assert error_code(submit) == "UNAUTHENTICATED"
    assert error_code(bad_scalar) == "VALIDATION"
    assert asyncio.run(_investments(migrated_url, seeded["offering"])) == 0


def test_investor_submits_and_cancels_with_a_bearer_token(
    migrated_url: str, redis_url: str, seeded: dict[str, Any], env: Callable[..., None]
) -> None:
    env(DJANGO_SECRET_KEY=SECRET)
    settings = get_settings()
    investor = Principal(
        kind=Kind.WALLET, role="investor", investor_id=seeded["investor"], address=seeded["address"]
    )
    other = Principal(kind=Kind.WALLET, role="investor", address="0x" + "12" * 20)
    token = create_access_token(investor, settings=settings).token
    stranger = create_access_token(other, settings=settings).token
    order = {
        "offeringId": to_global_id("Offering", seeded["offering"]),
        "amount": "50",
        "currency": "EUR",
    }
    cancel = "mutation($id: ID!) { cancelInvestment(id: $id) { state } }"
    server_env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, DJANGO_SECRET_KEY=SECRET)
    with web_server(server_env) as base:
        me = post(base, "{ me { id kycStatus } }", token)
        placed = post(base, SUBMIT, token, input=order)
        too_big = post(base, SUBMIT, token, input={**order, "amount": "505"})
        unregistered = post(base, SUBMIT, stranger, input=order)
        made = placed["data"]["submitInvestment"]
        theirs = post(base, cancel, stranger, id=made["id"])
        listed = post(base, "{ investments { totalCount } }", token)
        cancelled = post(base, cancel, token, id=made["id"])
        forged = httpx.post(
            base + "/graphql",
            json={"query": "{ me { id } }"},
            timeout=30,
            headers={"Authorization": f"Bearer {token[:-4]}AAAA"},
        )
    assert me["data"]["me"] == {
        "id": to_global_id("Investor", seeded["investor"]),
        "kycStatus": "APPROVED",
    }
    assert made["state"] == "PENDING_PAYMENT"
    assert made["units"] == "10"
    assert made["paymentReference"].startswith("DPO-")
    assert error_code(too_big) == "VALIDATION"
    assert too_big["errors"][0]["extensions"]["reason"] == "above_max_ticket"
    assert error_code(unregistered) == "FORBIDDEN"
    assert error_code(theirs) == "FORBIDDEN"
    assert listed["data"]["investments"]["totalCount"] == 1
    assert cancelled["data"]["cancelInvestment"]["state"] == "CANCELLED"
    assert forged.status_code == 401
    assert error_code(forged.json()) == "UNAUTHENTICATED"
    assert asyncio.run(_investments(migrated_url, seeded["offering"])) == 1

"""A seeded database, one real `dpo web` on it, and a caller per role, for the HTTP role tests.

Roles: anonymous, two investors, staff of two issuers, admin, ops, and an API key (ops) that
signs every request afresh. The database is the module's own (committed_api), so a
fingerprint of every table tells whether a refused request changed anything.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from dpo.auth.api_keys import create_api_key, signed_headers
from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.models import (
    FxRate,
    Investment,
    Investor,
    InvestorWallet,
    Issuer,
    JobRun,
    Offering,
    Position,
    ReconciliationBreak,
    ReconciliationRun,
)
from dpo.db.models.enums import Role
from dpo.services.codes import isin_check_digit
from dpo.settings import Settings
from schema.relay import to_global_id
from tests.e2e.conftest import base_env, web_server
from tests.integration.api.committed import Api

SECRET = "e2e-roles-" + secrets.token_hex(24)
HMAC_SECRET = "e2e-roles-hmac-" + secrets.token_hex(24)
ROLES = ("anonymous", "investor", "other_investor", "issuer", "other_issuer", "admin", "ops",
         "api_key")
# Tables whose rows a request may touch without changing anything: a nonce query stores a
# nonce, an API-key call stamps last_used_at.
_VOLATILE = {"alembic_version", "auth_nonces", "api_keys"}
_serial = itertools.count(1)


def new_isin() -> str:
    """A fresh ISIN with a correct check digit."""
    body = f"XS{next(_serial):04d}{secrets.token_hex(3).upper()[:5]}"
    return body + str(isin_check_digit(body))


def hash32() -> str:
    """A random lower-case bytes32."""
    return "0x" + secrets.token_hex(32)


def settings() -> Settings:
    """The server's secrets, to mint tokens and keys the server accepts."""
    return Settings.model_validate({"DJANGO_SECRET_KEY": SECRET, "API_HMAC_SECRET": HMAC_SECRET})


@dataclass
class World:
    """Database ids (global ids in `gid`) of the seeded rows."""

    ids: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    def gid(self, type_name: str, name: str) -> str:
        """The global id of a seeded row."""
        return str(to_global_id(type_name, self.ids[name]))


def _offering(issuer: Issuer, name: str, status: str, **extra: Any) -> Offering:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "issuer": issuer, "isin": new_isin(), "name": name, "symbol": name.upper()[:8],
        "security_type": "equity", "regulation": "reg_s", "currency": "EUR",
        "unit_price": Decimal(10), "min_ticket": Decimal(10), "max_ticket": Decimal(1000),
        "soft_cap": Decimal(0), "hard_cap": Decimal(100000),
        "opens_at": now - timedelta(days=1), "closes_at": now + timedelta(days=30),
        "status": status, "allowed_countries": []}
    values.update(extra)
    return Offering(**values)


async def seed(api: Api) -> World:
    """Two issuers (and a hidden one), offerings in each state, investors, orders, ops rows."""
    world = World()
    async with api.runtime.sessions() as session, session.begin():
        acme, bolt, ghost = Issuer(name="Acme", country="LU"), Issuer(name="Bolt"), \
            Issuer(name="Ghost")
        token = "0x" + secrets.token_hex(20)
        offerings = {
            "acme_open": _offering(acme, "Acme Open", "open"),
            "acme_draft": _offering(acme, "Acme Draft", "draft"),
            "acme_settle": _offering(acme, "Acme Settle", "closed", token_address=token,
                                     onchain_offering_id=secrets.randbelow(2**60),
                                     units_sold=30),
            "acme_unsettled": _offering(acme, "Acme Unsettled", "closed",
                                        token_address=token,
                                        onchain_offering_id=secrets.randbelow(2**60)),
            "bolt_open": _offering(bolt, "Bolt Open", "open"),
            "bolt_draft": _offering(bolt, "Bolt Draft", "draft"),
            "ghost_draft": _offering(ghost, "Ghost Draft", "draft"),
        }
        investors = {
            "investor": Investor(full_name="Ada", email=f"ada{secrets.token_hex(4)}@example.com",
                                 country="DE", kyc_status="approved"),
            "other_investor": Investor(full_name="Bob",
                                       email=f"bob{secrets.token_hex(4)}@example.com",
                                       country="FR", kyc_status="approved"),
            "pending_investor": Investor(full_name="Cy", country="GB", kyc_status="pending",
                                         email=f"cy{secrets.token_hex(4)}@example.com"),
        }
        session.add_all([*offerings.values(), *investors.values()])
        await session.flush()
        for name, investor in investors.items():
            address = "0x" + secrets.token_hex(20)
            world.addresses[name] = address
            session.add(InvestorWallet(investor_id=investor.id, address=address, chain_id=31337))
        world.addresses["new_wallet"] = "0x" + secrets.token_hex(20)
        orders = {
            "order": Investment(investor_id=investors["investor"].id,
                                offering_id=offerings["acme_open"].id, amount=Decimal(100),
                                currency="EUR", units=10, payment_reference="DPO-E2E-0001"),
            "other_order": Investment(investor_id=investors["other_investor"].id,
                                      offering_id=offerings["bolt_open"].id,
                                      amount=Decimal(50), currency="EUR", units=5,
                                      payment_reference="DPO-E2E-0002", tx_hash=hash32()),
            "issued": Investment(investor_id=investors["investor"].id,
                                 offering_id=offerings["acme_settle"].id, amount=Decimal(300),
                                 currency="EUR", units=30, state="issued",
                                 payment_reference="DPO-E2E-0003", onchain_reference=hash32(),
                                 tx_hash=hash32(), issued_at=datetime.now(UTC)),
            "paid": Investment(investor_id=investors["other_investor"].id,
                               offering_id=offerings["acme_unsettled"].id, amount=Decimal(20),
                               currency="EUR", units=2, state="paid",
                               payment_reference="DPO-E2E-0004", onchain_reference=hash32(),
                               tx_hash=hash32()),
        }
        session.add_all(orders.values())
        positions = {
            "position": Position(holder_address=world.addresses["investor"],
                                 offering_id=offerings["acme_settle"].id, location="onchain",
                                 investor_id=investors["investor"].id, quantity=30),
            "other_position": Position(holder_address=world.addresses["other_investor"],
                                       offering_id=offerings["bolt_open"].id,
                                       location="ledger",
                                       investor_id=investors["other_investor"].id, quantity=5),
        }
        session.add_all(positions.values())
        run = ReconciliationRun()
        session.add(run)
        await session.flush()
        breaks = {name: ReconciliationBreak(
            run_id=run.id, isin=offerings["acme_settle"].isin, holder=holder, ledger_qty=30,
            chain_qty=29, difference=1, kind="quantity_mismatch")
            for name, holder in (("break", world.addresses["investor"]),
                                 ("other_break", world.addresses["other_investor"]))}
        session.add_all(breaks.values())
        session.add(JobRun(job="fx_rates", status="succeeded",
                           finished_at=datetime.now(UTC), counts={"rates": 1}))
        session.add(FxRate(base="EUR", quote="USD", rate=Decimal("1.08"), as_of=date.today(),
                           source="ecb"))
        await session.flush()
        for group in (offerings, investors, orders, positions, breaks):
            world.ids.update({name: row.id for name, row in group.items()})
        world.ids.update(acme=acme.id, bolt=bolt.id, ghost=ghost.id)
    async with api.runtime.sessions() as session, session.begin():
        key, _ = await create_api_key(session, name="e2e roles", role=Role.OPS,
                                      settings=settings())
    world.addresses["api_key"] = key
    return world


def principals(world: World) -> dict[str, Principal]:
    """The bearer-token principal of every role but anonymous and the API key."""
    ids, addresses = world.ids, world.addresses
    return {
        "investor": Principal(kind=Kind.WALLET, role="investor", investor_id=ids["investor"],
                              address=addresses["investor"]),
        "other_investor": Principal(kind=Kind.WALLET, role="investor",
                                    investor_id=ids["other_investor"],
                                    address=addresses["other_investor"]),
        "new_wallet": Principal(kind=Kind.WALLET, role="investor",
                                address=addresses["new_wallet"]),
        "issuer": Principal(kind=Kind.STAFF, role="issuer", user_id=901, issuer_id=ids["acme"]),
        "other_issuer": Principal(kind=Kind.STAFF, role="issuer", user_id=902,
                                  issuer_id=ids["bolt"]),
        "admin": Principal(kind=Kind.STAFF, role="admin", user_id=903),
        "ops": Principal(kind=Kind.STAFF, role="ops", user_id=904),
    }


@dataclass
class Caller:
    """Posts GraphQL documents to the server as one role."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    api_key: str | None = None

    async def post(self, query: str, request_id: str | None = None,
                   **variables: Any) -> httpx.Response:
        """One POST /graphql; an API key signs each body, made unique (signatures work once)."""
        payload: dict[str, Any] = {"query": query, "variables": variables}
        headers = dict(self.headers)
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        if self.api_key is None:
            return await self.client.post("/graphql", json=payload, headers=headers)
        payload["extensions"] = {"nonce": secrets.token_hex(8)}
        body = json.dumps(payload).encode()
        headers.update(signed_headers(self.api_key, method="POST", path="/graphql", body=body))
        headers["Content-Type"] = "application/json"
        return await self.client.post("/graphql", content=body, headers=headers)

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data of a request that must succeed."""
        response = await self.post(query, **variables)
        body: dict[str, Any] = response.json()
        assert response.status_code == 200, response.text
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data


def code_of(response: httpx.Response) -> str | None:
    """The first error's extensions.code, or None."""
    errors = response.json().get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


@asynccontextmanager
async def serve(api: Api, world: World, redis_url: str, *, log_path: Path | None = None,
                **extra: str) -> AsyncIterator[dict[str, Caller]]:
    """Start the server; yield a caller per role (and `new_wallet`, an unregistered one).

    With `log_path`, the server's output goes there (see `error_lines`).
    """
    env = base_env(DATABASE_URL=api.url, REDIS_URL=redis_url, DJANGO_SECRET_KEY=SECRET,
                   API_HMAC_SECRET=HMAC_SECRET, **extra)
    with web_server(env, log_path=log_path) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            callers = {"anonymous": Caller(client, {}),
                       "api_key": Caller(client, {}, api_key=world.addresses["api_key"])}
            for name, principal in principals(world).items():
                bearer = create_access_token(principal, settings=settings()).token
                callers[name] = Caller(client, {"Authorization": f"Bearer {bearer}"})
            yield callers


async def fingerprint(api: Api) -> dict[str, str]:
    """An md5 of every table's rows (volatile ones aside): equal means nothing changed."""
    async with api.runtime.sessions() as session:
        tables = [row[0] for row in await session.execute(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"))
            if row[0] not in _VOLATILE]
        # Table names come from the catalog, not from input.
        parts = [f"SELECT '{t}', md5(coalesce(string_agg(x::text, '|' "  # noqa: S608
                 f"ORDER BY x::text), '')) FROM \"{t}\" x" for t in sorted(tables)]
        query = " UNION ALL ".join(parts)
        return {str(row[0]): str(row[1]) for row in await session.execute(text(query))}


async def audit_rows(api: Api, entity_type: str, entity_id: int) -> list[Mapping[str, Any]]:
    """The audit log of one entity, oldest first."""
    async with api.runtime.sessions() as session:
        rows = await session.execute(text(
            "SELECT actor, action, entity_type, entity_id, before, after, request_id "
            "FROM audit_log WHERE entity_type = :t AND entity_id = :i ORDER BY id"),
            {"t": entity_type, "i": str(entity_id)})
        return [dict(row._mapping) for row in rows]


def error_lines(log_path: Path, start: int = 0) -> list[str]:
    """Lines the server logged at ERROR or worse (tracebacks included) after byte `start`."""
    with log_path.open("rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    return [line for line in text.splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]

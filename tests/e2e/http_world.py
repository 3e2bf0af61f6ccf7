"""A seeded database (tests.e2e.http_seed), one real `dpo web` on it, and a caller per role,
for the HTTP role tests.

Roles: anonymous, two investors, staff of two issuers, admin, ops, and an API key (ops) that
signs every request afresh. The database is the module's own (committed_api), so a
fingerprint of every table tells whether a refused request changed anything.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from dpo.auth.api_keys import signed_headers
from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from tests.e2e.conftest import base_env, web_server
from tests.e2e.http_seed import HMAC_SECRET, SECRET, World, settings
from tests.integration.api.committed import Api

ROLES = (
    "anonymous",
    "investor",
    "other_investor",
    "issuer",
    "other_issuer",
    "admin",
    "ops",
    "api_key",
)
# Tables whose rows a request may touch without changing anything: a nonce query stores a
# nonce, an API-key call stamps last_used_at.
_VOLATILE = {"alembic_version", "auth_nonces", "api_keys"}


def principals(world: World) -> dict[str, Principal]:
    """The bearer-token principal of every role but anonymous and the API key."""
    ids, addresses = world.ids, world.addresses
    return {
        "investor": Principal(
            kind=Kind.WALLET,
            role="investor",
            investor_id=ids["investor"],
            address=addresses["investor"],
        ),
        "other_investor": Principal(
            kind=Kind.WALLET,
            role="investor",
            investor_id=ids["other_investor"],
            address=addresses["other_investor"],
        ),
        "new_wallet": Principal(kind=Kind.WALLET, role="investor", address=addresses["new_wallet"]),
        "issuer": Principal(kind=Kind.STAFF, role="issuer", user_id=901, issuer_id=ids["acme"]),
        "other_issuer": Principal(
            kind=Kind.STAFF, role="issuer", user_id=902, issuer_id=ids["bolt"]
        ),
        "admin": Principal(kind=Kind.STAFF, role="admin", user_id=903),
        "ops": Principal(kind=Kind.STAFF, role="ops", user_id=904),
    }


@dataclass
class Caller:
    """Posts GraphQL documents to the server as one role."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    api_key: str | None = None

    async def post(
        self, query: str, request_id: str | None = None, **variables: Any
    ) -> httpx.Response:
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
async def serve(
    api: Api, world: World, redis_url: str, *, log_path: Path | None = None, **extra: str
) -> AsyncIterator[dict[str, Caller]]:
    """Start the server; yield a caller per role (and `new_wallet`, an unregistered one).

    With `log_path`, the server's output goes there (see `error_lines`).
    """
    env = base_env(
        DATABASE_URL=api.url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET,
        API_HMAC_SECRET=HMAC_SECRET,
        **extra,
    )
    with web_server(env, log_path=log_path) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            callers = {
                "anonymous": Caller(client, {}),
                "api_key": Caller(client, {}, api_key=world.addresses["api_key"]),
            }
            for name, principal in principals(world).items():
                bearer = create_access_token(principal, settings=settings()).token
                callers[name] = Caller(client, {"Authorization": f"Bearer {bearer}"})
            yield callers


async def fingerprint(api: Api) -> dict[str, str]:
    """An md5 of every table's rows (volatile ones aside): equal means nothing changed."""
    async with api.runtime.sessions() as session:
        tables = [
            row[0]
            for row in await session.execute(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            )
            if row[0] not in _VOLATILE
        ]
        # Table names come from the catalog, not from input.
        parts = [
            f"SELECT '{t}', md5(coalesce(string_agg(x::text, '|' "  # noqa: S608
            f"ORDER BY x::text), '')) FROM \"{t}\" x"
            for t in sorted(tables)
        ]
        query = " UNION ALL ".join(parts)
        return {str(row[0]): str(row[1]) for row in await session.execute(text(query))}


async def audit_rows(api: Api, entity_type: str, entity_id: int) -> list[Mapping[str, Any]]:
    """The audit log of one entity, oldest first."""
    async with api.runtime.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT actor, action, entity_type, entity_id, before, after, request_id "
                "FROM audit_log WHERE entity_type = :t AND entity_id = :i ORDER BY id"
            ),
            {"t": entity_type, "i": str(entity_id)},
        )
        return [dict(row._mapping) for row in rows]


def error_lines(log_path: Path, start: int = 0) -> list[str]:
    """Lines the server logged at ERROR or worse (tracebacks included) after byte `start`."""
    with log_path.open("rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    return [
        line
        for line in text.splitlines()
        if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
    ]

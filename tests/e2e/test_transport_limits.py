"""The same limits and the same error masking on every transport, against a real `dpo web`.

The module's tests share one server and database. Each gives its callers addresses and users
of their own (addresses through X-Forwarded-For: the server trusts its loopback peer as the
proxy), so rate-limit buckets in the shared Redis never collide.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.auth.principal import Kind, Principal
from dpo.auth.staff import create_staff_user
from dpo.db.models.enums import Role
from schema.relay import to_global_id
from tests.e2e.conftest import web_server
from tests.e2e.test_subscriptions import seeded_feed_db, server_env, token
from tests.integration.streaming.wsclient import LEGACY_WS, TRANSPORT_WS, GraphQLSocket, open_socket

NONCE = "query { nonce { value } }"
STAFF = """mutation($e: String!, $p: String!) { staffSignIn(email: $e, password: $p) {
  accessToken } }"""
VIEWER = "query { viewer { kind } }"
PASSWORD = "the right staff password"
OFFERING = "subscription($id: ID!) { offeringUpdated(id: $id) { id status } }"
Sessions = async_sessionmaker[AsyncSession]

# Each caller's own address and user: never one another test of the module used.
_callers = itertools.count(1)


def address() -> str:
    n = next(_callers)
    return f"198.51.100.{n % 250 + 1}, 203.0.{113 + n // 250}.{n % 250 + 1}"


def user(n: int) -> Principal:
    return Principal(kind=Kind.STAFF, role="admin", user_id=n)


def new_user() -> Principal:
    return user(1000 + next(_callers))


@pytest.fixture(scope="module")
async def feed_db(pg_server_url: str) -> AsyncIterator[tuple[str, Sessions]]:
    async with seeded_feed_db(pg_server_url) as feed:
        yield feed


@pytest.fixture(scope="module")
def server(feed_db: tuple[str, Sessions], redis_url: str) -> Iterator[str]:
    """One server for the module: its limits are per caller, kept in Redis either way."""
    env = server_env(feed_db[0], redis_url, RATE_LIMIT_ANON="5/min", RATE_LIMIT_USER="12/min")
    with web_server(env) as base:
        yield base


def code_of(message: dict[str, Any]) -> str:
    """The first error code of an operation's result or error message ("OK" without one)."""
    payload = message["payload"]
    errors = (
        payload
        if isinstance(payload, list)
        else payload.get("errors") or ([payload] if message["type"] == "error" else [])
    )
    return str(errors[0]["extensions"]["code"]) if errors else "OK"


async def operation(sock: GraphQLSocket, op_id: str, query: str, **variables: Any) -> str:
    """Run one query or mutation over the socket; its outcome's code."""
    await sock.subscribe(op_id, query, **variables)
    first = await sock.receive()
    assert first.get("id") == op_id, first
    if first["type"] in ("next", "data"):
        done = await sock.receive()
        assert done == {"id": op_id, "type": "complete"}, done
    return code_of(first)


async def test_staff_password_guesses_over_websocket_hit_the_http_limit(
    server: str, feed_db: tuple[str, Sessions]
) -> None:
    _, sessions = feed_db
    http_email, ws_email = (f"{kind}-{secrets.token_hex(4)}@example.com" for kind in "hw")
    async with sessions() as session, session.begin():
        for email in (http_email, ws_email):
            await create_staff_user(
                session, email=email, password=PASSWORD, role=Role.OPS, actor="test"
            )
    # Over HTTP, anonymous: 5 guesses a minute from one address.
    over_http: list[str] = []
    async with httpx.AsyncClient(
        base_url=server, timeout=30, headers={"X-Forwarded-For": address()}
    ) as client:
        for _ in range(7):
            response = await client.post(
                "/graphql",
                json={"query": STAFF, "variables": {"e": http_email, "p": "a wrong guess"}},
            )
            over_http.append(code_of({"type": "next", "payload": response.json()}))
    # Over a WebSocket signed in as some other user, from another address: the same 5.
    async with open_socket(server, additional_headers={"X-Forwarded-For": address()}) as sock:
        assert (await sock.init({"authorization": f"Bearer {token(new_user())}"}))[
            "type"
        ] == "connection_ack"
        over_ws = [
            await operation(sock, f"g{i}", STAFF, e=ws_email, p="a wrong guess") for i in range(7)
        ]
        right = await operation(sock, "right", STAFF, e=ws_email, p=PASSWORD)
        # Refused operations leave the socket open: a plain query still runs.
        viewer = await operation(sock, "viewer", VIEWER)
    assert over_http == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"] * 2
    assert over_ws == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"] * 2
    assert right == "RATE_LIMITED"  # the password is never tested once over the limit
    assert viewer == "OK"
    # Per account too: a fresh address guessing the same account is refused at once.
    async with httpx.AsyncClient(
        base_url=server, timeout=30, headers={"X-Forwarded-For": address()}
    ) as client:
        fresh = await client.post(
            "/graphql", json={"query": STAFF, "variables": {"e": ws_email, "p": PASSWORD}}
        )
    assert code_of({"type": "next", "payload": fresh.json()}) == "RATE_LIMITED"


async def test_nonces_over_a_socket_are_limited_per_address(
    server: str, feed_db: tuple[str, Sessions]
) -> None:
    _, sessions = feed_db
    async with sessions() as session:
        before = await session.scalar(text("SELECT count(*) FROM auth_nonces"))
    async with open_socket(server, additional_headers={"X-Forwarded-For": address()}) as sock:
        assert (await sock.init({"authorization": f"Bearer {token(new_user())}"}))[
            "type"
        ] == "connection_ack"
        outcomes = [await operation(sock, f"n{i}", NONCE) for i in range(9)]
    async with sessions() as session:
        after = await session.scalar(text("SELECT count(*) FROM auth_nonces"))
    # Each nonce is a row: only as many as the address may start sign-ins (5 a minute).
    assert outcomes == ["OK"] * 5 + ["RATE_LIMITED"] * 4
    assert after - before == 5


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_every_websocket_operation_counts_in_the_callers_http_bucket(
    server: str, protocol: str
) -> None:
    caller = new_user()
    bearer = {"Authorization": f"Bearer {token(caller)}"}
    async with httpx.AsyncClient(base_url=server, timeout=30, headers=bearer) as client:
        for _ in range(4):  # 4 of the user's 12 a minute over HTTP
            assert (await client.post("/graphql", json={"query": VIEWER})).status_code == 200
        async with open_socket(server, protocol=protocol) as sock:
            assert (await sock.init({"authorization": bearer["Authorization"]}))[
                "type"
            ] == "connection_ack"
            outcomes = [await operation(sock, f"q{i}", VIEWER) for i in range(10)]
            after = await client.post("/graphql", json={"query": VIEWER})
            # A subscription over Server-Sent Events is an HTTP request in the same bucket.
            sse = await client.post(
                "/graphql",
                json={"query": OFFERING, "variables": {"id": to_global_id("Offering", 1)}},
                headers={"Accept": "text/event-stream"},
            )
    # The legacy protocol serves subscriptions only: its refusal is still an operation counted.
    served = "OK" if protocol == TRANSPORT_WS else "VALIDATION"
    assert outcomes == [served] * 8 + ["RATE_LIMITED"] * 2
    assert after.status_code == 429
    assert sse.status_code == 429


async def test_unexpected_subscription_errors_are_masked_on_websocket_and_sse(
    server: str, feed_db: tuple[str, Sessions]
) -> None:
    _, sessions = feed_db
    caller = new_user()
    huge = to_global_id("Offering", 10**30)
    # A database fault inside the subscription's stream: the offerings table is gone.
    async with sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE offerings RENAME TO offerings_away"))
    try:
        async with open_socket(server) as sock:
            assert (await sock.init({"authorization": f"Bearer {token(caller)}"}))[
                "type"
            ] == "connection_ack"
            await sock.subscribe("broken", OFFERING, id=to_global_id("Offering", 1))
            broken = await sock.receive()
            assert (await sock.receive())["type"] == "complete"
            await sock.subscribe("huge", OFFERING, id=huge)
            big = await sock.receive()
        async with (
            httpx.AsyncClient(base_url=server, timeout=30) as client,
            client.stream(
                "POST",
                "/graphql",
                json={"query": OFFERING, "variables": {"id": to_global_id("Offering", 1)}},
                headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token(caller)}"},
            ) as stream,
        ):
            sse = (await stream.aread()).decode()
    finally:
        async with sessions() as session, session.begin():
            await session.execute(text("ALTER TABLE offerings_away RENAME TO offerings"))
    for message in (broken, big):
        errors = (
            message["payload"] if message["type"] == "error" else (message["payload"]["errors"])
        )
        text_of = json.dumps(message)
        assert "SELECT" not in text_of, text_of
        assert "offerings" not in text_of, text_of
        assert errors[0]["extensions"]["code"] in ("INTERNAL", "VALIDATION"), text_of
    [broken_error] = broken["payload"]["errors"]
    assert broken_error["message"] == "Internal server error"
    assert broken_error["extensions"]["code"] == "INTERNAL"
    assert broken_error["extensions"]["requestId"]
    data = json.loads(sse.split("data: ", 1)[1].split("\n", 1)[0])
    assert data["errors"][0]["extensions"]["code"] == "INTERNAL", sse
    assert data["errors"][0]["message"] == "Internal server error"
    assert "SELECT" not in sse
    assert "offerings" not in sse

"""Stream tickets against `dpo web`: what a browser's EventSource signs in with.

A signed-in client asks `streamTicket` for a ticket and opens the event stream with it in the
URL; the ticket works once, for 60 seconds, for event streams only, and never reaches a log.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from dpo.auth import stream_tickets
from dpo.auth.principal import Kind, Principal
from tests.e2e import test_subscriptions as subscriptions
from tests.e2e.conftest import web_server
from tests.e2e.test_subscriptions import SECRET_KEY, Sessions, server_env, token
from tests.e2e.test_subscriptions_sse import cursors, messages, take
from tests.integration.streaming.support import FakeChain
from tests.integration.streaming.wsclient import EVENTS

pytestmark = pytest.mark.timeout(240)

feed_db = subscriptions.feed_db
redis = subscriptions.redis
ADMIN = Principal(kind=Kind.STAFF, role="admin", user_id=1)
MINT = "mutation { streamTicket { ticket expiresAt } }"
STREAM = {"Accept": "text/event-stream"}


async def mint(
    http: httpx.AsyncClient, principal: Principal = ADMIN, bearer: str | None = None
) -> dict[str, Any]:
    answer = await http.post(
        "/graphql",
        json={"query": MINT},
        headers={"Authorization": f"Bearer {bearer or token(principal)}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    ticket: dict[str, Any] = body["data"]["streamTicket"]
    return ticket


def stream_params(ticket: str, after: str = "0") -> dict[str, str]:
    return {"query": EVENTS, "variables": json.dumps({"after": after}), "ticket": ticket}


def refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["errors"][0]
    return response.status_code, error["extensions"]["code"], error["extensions"].get("reason")


async def test_a_ticket_opens_one_stream_once_and_never_reaches_the_log(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    log = tmp_path / "web.log"
    with web_server(server_env(url, redis_url, LOG_LEVEL="INFO"), log_path=log) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            issued = await mint(http)
            ticket = issued["ticket"]
            expires = datetime.fromisoformat(issued["expiresAt"])
            assert timedelta(seconds=50) < expires - datetime.now(UTC) <= timedelta(seconds=61)
            # An EventSource's request: GET, the ticket in the URL, no Authorization.
            async with http.stream(
                "GET", "/graphql", params=stream_params(ticket), headers=STREAM
            ) as response:
                assert response.status_code == 200
                await chain.emit(2, redis=redis)
                assert cursors(await take(response, 2)) == [1, 2]
            reused = await http.get("/graphql", params=stream_params(ticket), headers=STREAM)
            # Not a bearer token, and not a credential for queries or mutations.
            as_bearer = await http.post(
                "/graphql",
                json={"query": "{ viewer { role } }"},
                headers={"Authorization": f"Bearer {ticket}"},
            )
            fresh = (await mint(http))["ticket"]
            as_query = await http.post(
                "/graphql", params={"ticket": fresh}, json={"query": "{ viewer { role } }"}
            )
            as_get_query = await http.get(
                "/graphql", params={"ticket": fresh, "query": "{ viewer { role } }"}
            )
            as_mutation = await http.post(
                "/graphql", params={"ticket": fresh}, json={"query": MINT}
            )
            both = await http.get(
                "/graphql",
                params=stream_params(fresh),
                headers={**STREAM, "Authorization": f"Bearer {token(ADMIN)}"},
            )
            # None of those used it up: it still opens its stream.
            async with http.stream(
                "GET", "/graphql", params=stream_params(fresh, after="1"), headers=STREAM
            ) as response:
                assert response.status_code == 200
                assert cursors(await take(response, 1)) == [2]
            anonymous = await http.post("/graphql", json={"query": MINT})
    assert refusal(reused) == (401, "UNAUTHENTICATED", "used")
    assert "already used" in reused.json()["errors"][0]["message"]
    assert refusal(as_bearer)[:2] == (401, "UNAUTHENTICATED")
    for answer in (as_query, as_get_query, as_mutation):
        assert refusal(answer) == (401, "UNAUTHENTICATED", "ticket_not_accepted"), answer.text
    assert refusal(both) == (401, "UNAUTHENTICATED", "ticket_and_credential")
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert anonymous.json()["data"] is None
    logged = log.read_text(errors="replace")
    assert "ticket=***" in logged  # the access log has the requests...
    for value in (ticket, fresh):
        assert value not in logged  # ...but not the tickets
        assert value[len(stream_tickets.PREFIX) :] not in logged


async def test_forged_expired_and_foreign_tickets_are_refused_clearly(
    feed_db: tuple[str, Sessions], redis_url: str
) -> None:
    url, _ = feed_db
    key = stream_tickets.ticket_key(SECRET_KEY)
    expired = stream_tickets.encode(
        key, expires_at=int(time.time()) - 1, nonce=secrets.token_bytes(16)
    )
    foreign = stream_tickets.encode(
        stream_tickets.ticket_key("another " + SECRET_KEY),
        expires_at=int(time.time()) + 60,
        nonce=secrets.token_bytes(16),
    )
    # Authentic and unexpired, but never issued: as good as used.
    unissued = stream_tickets.encode(
        key, expires_at=int(time.time()) + 60, nonce=secrets.token_bytes(16)
    )
    with web_server(server_env(url, redis_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            real = (await mint(http))["ticket"]
            flipped = real[:-3] + ("A" if real[-3] != "A" else "B") + real[-2:]
            answers = {}
            for name, value in {
                "expired": expired,
                "foreign": foreign,
                "unissued": unissued,
                "flipped": flipped,
                "empty": "",
                "junk": "st1_" + "x" * 54,
                "huge": "st1_" + "A" * 6000,
                "unicode": "st1_" + "é" * 54,
                "nul": "st1_\x00",
            }.items():
                answers[name] = await http.get(
                    "/graphql", params=stream_params(value), headers=STREAM
                )
            repeated = await http.get(
                "/graphql",
                headers=STREAM,
                params=[("ticket", expired), ("ticket", real), ("query", EVENTS)],
            )
    assert refusal(answers.pop("expired")) == (401, "UNAUTHENTICATED", "expired")
    assert refusal(answers.pop("unissued")) == (401, "UNAUTHENTICATED", "used")
    for name, answer in answers.items():
        assert refusal(answer) == (401, "UNAUTHENTICATED", "invalid"), (name, answer.text)
    assert refusal(repeated) == (401, "UNAUTHENTICATED", "expired")  # the first one counts


async def test_a_ticket_stream_ends_when_the_access_token_behind_it_expires(
    feed_db: tuple[str, Sessions], redis_url: str
) -> None:
    url, _ = feed_db
    with web_server(server_env(url, redis_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            # An access token with a few seconds left asks for the ticket.
            short = token(
                ADMIN, now=datetime.now(UTC) - timedelta(minutes=15) + timedelta(seconds=8)
            )
            ticket = (await mint(http, bearer=short))["ticket"]
            async with http.stream(
                "GET", "/graphql", params=stream_params(ticket), headers=STREAM
            ) as response:
                assert response.status_code == 200
                got = [message async for message in messages(response.aiter_lines())]
    # The stream ended by itself (no item arrived; the server closed it).
    assert all(m.get("event") != "next" for m in got)


async def test_of_two_concurrent_uses_of_one_ticket_exactly_one_opens_a_stream(
    feed_db: tuple[str, Sessions], redis_url: str
) -> None:
    url, _ = feed_db
    with web_server(server_env(url, redis_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for _ in range(5):
                ticket = (await mint(http))["ticket"]

                async def use(value: str = ticket) -> int:
                    async with http.stream(
                        "GET", "/graphql", params=stream_params(value), headers=STREAM
                    ) as response:
                        return response.status_code

                statuses = sorted(await asyncio.gather(use(), use(), use()))
                assert statuses == [200, 401, 401]
            # A malformed request is refused without spending the ticket it carries.
            ticket = (await mint(http))["ticket"]
            bad = await http.get(
                "/graphql",
                headers=STREAM,
                params={"query": EVENTS, "variables": "[1]", "ticket": ticket},
            )
            assert bad.status_code == 400
            assert await use(ticket) == 200

"""Subscriptions over Server-Sent Events against `dpo web`, with httpx streaming."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from dpo.auth.principal import Kind, Principal
from tests.e2e import test_subscriptions as subscriptions
from tests.e2e.conftest import web_server
from tests.e2e.test_subscriptions import Sessions, server_env, token
from tests.integration.streaming.support import FakeChain
from tests.integration.streaming.wsclient import EVENTS

pytestmark = pytest.mark.timeout(180)

feed_db = subscriptions.feed_db
redis = subscriptions.redis
BREAKS = "subscription { reconciliationBreaks { id } }"
INVESTOR = Principal(
    kind=Kind.WALLET,
    role="investor",
    investor_id=1,
    address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
)


def headers(principal: Principal | None = None, **extra: str) -> dict[str, str]:
    values = {"Accept": "text/event-stream", **extra}
    if principal is not None:
        values["Authorization"] = f"Bearer {token(principal)}"
    return values


async def messages(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """SSE messages (comments skipped) as {'id', 'event', 'data'}."""
    message: dict[str, Any] = {}
    async for line in lines:
        if not line:
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            message[field] = value.removeprefix(" ")


async def take(response: httpx.Response, n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async for message in messages(response.aiter_lines()):
        got.append(message)
        if len(got) == n:
            break
    return got


def cursors(got: list[dict[str, Any]]) -> list[int]:
    ids = [int(m["id"]) for m in got]
    assert ids == [int(json.loads(m["data"])["data"]["events"]["cursor"]) for m in got]
    assert {m["event"] for m in got} == {"next"}
    return ids


async def test_events_over_sse_carry_their_sequence_and_resume_from_last_event_id(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    admin = Principal(kind=Kind.STAFF, role="admin", user_id=1)
    with web_server(server_env(url, redis_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            body = {"query": EVENTS, "variables": {"after": "0"}}
            async with http.stream(
                "POST", "/graphql", json=body, headers=headers(admin)
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                await chain.emit(3, redis=redis)
                first = cursors(await take(response, 3))
            # The browser's EventSource way: GET, and Last-Event-ID after a drop.
            params = {"query": EVENTS, "variables": json.dumps({"after": "0"})}
            async with http.stream(
                "GET", "/graphql", params=params, headers=headers(admin, **{"Last-Event-ID": "2"})
            ) as response:
                await chain.emit(2, redis=redis)
                resumed = cursors(await take(response, 3))
    assert first == [1, 2, 3]
    assert resumed == [3, 4, 5]


async def test_sse_refuses_anonymous_callers_and_keeps_permissions(
    feed_db: tuple[str, Sessions], redis_url: str
) -> None:
    url, _ = feed_db
    with web_server(server_env(url, redis_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            anonymous = await http.post("/graphql", json={"query": EVENTS}, headers=headers())
            bad = await http.post(
                "/graphql",
                json={"query": EVENTS},
                headers={**headers(), "Authorization": "Bearer nope"},
            )
            malformed = await http.post("/graphql", content=b"{", headers=headers(INVESTOR))
            async with http.stream(
                "POST", "/graphql", json={"query": BREAKS}, headers=headers(INVESTOR)
            ) as response:
                refused = await take(response, 2)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert bad.status_code == 401
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert [m["event"] for m in refused] == ["next", "complete"]
    assert json.loads(refused[0]["data"])["errors"][0]["extensions"]["code"] == "FORBIDDEN"

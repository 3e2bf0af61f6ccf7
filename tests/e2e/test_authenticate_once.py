"""A request's bearer token is verified once, counted by a real `dpo web` on its /metrics.

The rate limiter verifies the token to pick the caller's bucket; the response cache and the
GraphQL view read that outcome from the request's state (app.http.state) instead of
verifying it again. `dpo_access_token_verifications_total` counts every verification.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import httpx

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.settings import Settings
from tests.e2e.conftest import base_env, web_server

SECRET_KEY = "e2e-auth-once-" + secrets.token_hex(24)
T = TypeVar("T")
ADMIN = Principal(kind=Kind.STAFF, role="admin", user_id=1)
COUNTER = "dpo_access_token_verifications_total"
CACHED: dict[str, object] = {
    "query": "query Offerings { offerings(first: 2) { totalCount } }",
    "operationName": "Offerings",
}
# `status` is never stored: executed by the view on every request (app.graphql.cache).
EXECUTED: dict[str, object] = {
    "query": "query Status { status { version } }",
    "operationName": "Status",
}
# An extension the cache does not know: the request bypasses the cache to the view.
BYPASS: dict[str, object] = {**CACHED, "extensions": {"tracing": True}}


def _token(secret: str = SECRET_KEY, **when: datetime) -> str:
    settings = Settings.model_validate({"DJANGO_SECRET_KEY": secret})
    return create_access_token(ADMIN, settings=settings, **when).token


def _verifications(base: str) -> float:
    text = httpx.get(base + "/metrics", timeout=10).text
    found = re.search(rf"^{COUNTER} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{COUNTER} is not exported"
    return float(found.group(1))


def _post(base: str, body: Mapping[str, object], token: str, **headers: str) -> httpx.Response:
    return httpx.post(
        base + "/graphql",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def _counted(base: str, send: Callable[[], T]) -> tuple[float, T]:
    """How many verifications `send` caused, and what it returned."""
    before = _verifications(base)
    outcome = send()
    return _verifications(base) - before, outcome


def test_each_request_verifies_its_token_once(migrated_url: str, redis_url: str) -> None:
    env = base_env(
        DATABASE_URL=migrated_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        LOG_LEVEL="WARNING",
    )
    token = _token()
    with web_server(env) as base:
        for body, cache in (
            (CACHED, "miss"),
            (CACHED, "hit"),
            (EXECUTED, "miss"),
            (BYPASS, "bypass"),
        ):
            delta, response = _counted(base, partial(_post, base, body, token))
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.text
            assert response.headers["x-cache"] == cache
            assert delta == 1, (body, cache)
        # A query over an event stream (graphql-sse's distinct connections mode).
        delta, response = _counted(
            base, partial(_post, base, EXECUTED, token, Accept="text/event-stream")
        )
        assert response.status_code == 200, response.text
        assert "event: next" in response.text
        assert delta == 1


def test_a_refused_token_is_verified_once(migrated_url: str, redis_url: str) -> None:
    env = base_env(
        DATABASE_URL=migrated_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        LOG_LEVEL="WARNING",
    )
    forged = _token("another-" + secrets.token_hex(24))
    stale = _token(now=datetime.now(UTC) - timedelta(days=2))
    huge = "x" * 5_000  # over MAX_TOKEN_LENGTH
    with web_server(env) as base:
        for token, reason in (
            (forged, "invalid access token"),
            (stale, "expired"),
            (huge, "Bearer <token>"),
            (forged, "invalid access token"),
        ):
            for body in (CACHED, EXECUTED, BYPASS):
                delta, response = _counted(base, partial(_post, base, body, token))
                assert response.status_code == 401, response.text
                error = response.json()["errors"][0]
                assert error["extensions"]["code"] == "UNAUTHENTICATED"
                assert reason in error["message"]
                assert token[:40] not in response.text
                # An oversized token is refused before it is decoded.
                assert delta == (0 if token is huge else 1), (reason, body)


def test_concurrent_requests_verify_once_each(migrated_url: str, redis_url: str) -> None:
    env = base_env(
        DATABASE_URL=migrated_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        LOG_LEVEL="WARNING",
    )
    token = _token()

    async def burst(base: str) -> list[int]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            replies = await asyncio.gather(
                *(
                    client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
                    for body in (CACHED, EXECUTED, BYPASS) * 6
                )
            )
        return [reply.status_code for reply in replies]

    with web_server(env) as base:
        delta, statuses = _counted(base, lambda: asyncio.run(burst(base)))
    assert statuses == [200] * 18
    assert delta == 18

"""Rate limits and GraphQL limits through a real uvicorn server."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.conftest import base_env, web_server

QUERY = {"query": "{ status { version } }"}


def env_for(migrated_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, **extra)


def fresh_address() -> str:
    """An address no earlier test (or run, within the limit's window) has used."""
    value = uuid.uuid4().int
    return f"10.{value % 256}.{(value >> 8) % 256}.{(value >> 16) % 254 + 1}"


def client(address: str) -> dict[str, str]:
    """Pose as `address`: uvicorn trusts X-Forwarded-For from loopback outside production."""
    return {"X-Forwarded-For": address}


def test_anonymous_limit_returns_429_with_retry_after(migrated_url: str, redis_url: str) -> None:
    me, other = fresh_address(), fresh_address()
    with web_server(env_for(migrated_url, redis_url, RATE_LIMIT_ANON="5/min")) as base:
        answers = [httpx.post(base + "/graphql", json=QUERY, headers=client(me))
                   for _ in range(6)]
        others = httpx.post(base + "/graphql", json=QUERY, headers=client(other))
        health = httpx.get(base + "/api/health/", headers=client(me))
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[5]
    assert 1 <= int(refused.headers["retry-after"]) <= 12
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    assert others.status_code == 200
    assert health.status_code == 200


def test_limit_is_shared_by_two_web_processes(migrated_url: str, redis_url: str) -> None:
    env = env_for(migrated_url, redis_url, RATE_LIMIT_ANON="4/min")
    me = client(fresh_address())
    with web_server(env) as first, web_server(env) as second:
        codes = [httpx.post((first, second)[i % 2] + "/graphql", json=QUERY, headers=me)
                 .status_code for i in range(5)]
    assert codes == [200, 200, 200, 200, 429]

"""The web service through a real uvicorn process and real HTTP."""

from __future__ import annotations

import httpx

from dpo.embedded.process import free_port
from tests.e2e.conftest import SharedWeb, base_env, web_server


def test_health_names_database_and_redis(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    base = shared_web(base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url))
    health = httpx.get(base + "/api/health/")
    ready = httpx.get(base + "/api/ready")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"
    assert ready.status_code == 200


def test_health_reports_redis_down_and_ready_refuses(migrated_url: str) -> None:
    dead_redis = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=dead_redis)
    with web_server(env) as base:
        health = httpx.get(base + "/api/health/")
        ready = httpx.get(base + "/api/ready")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["database"]["status"] == "ok"
    assert health.json()["redis"]["status"] == "down"
    assert ready.status_code == 503
    assert "hunter2" not in health.text + ready.text


def test_graphql_status_query_over_http(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    query = "{ status { version environment chainId dependencies { name ok } } }"
    base = shared_web(base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url))
    response = httpx.post(base + "/graphql", json={"query": query})
    assert response.status_code == 200
    data = response.json()["data"]["status"]
    assert data["chainId"] == 31337
    assert {d["name"]: d["ok"] for d in data["dependencies"]} == {"database": True, "redis": True}


def test_graphiql_only_in_debug(migrated_url: str, redis_url: str) -> None:
    accept = {"Accept": "text/html"}
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, DEBUG="true")
    with web_server(env) as base:
        assert "graphiql" in httpx.get(base + "/graphql", headers=accept).text.lower()
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, DEBUG="false")
    with web_server(env) as base:
        assert "graphiql" not in httpx.get(base + "/graphql", headers=accept).text.lower()


def test_health_shows_a_circuit_the_cron_service_opened(migrated_url: str, redis_url: str) -> None:
    import asyncio

    import redis.asyncio as aioredis

    from dpo.providers.breaker import Breakers

    async def trip() -> None:
        cron = Breakers(threshold=1, reset_seconds=600, redis_url=redis_url)
        try:
            async with await cron.guard("clearstream"):
                raise RuntimeError("clearstream down")
        except RuntimeError:
            pass

    async def forget() -> None:  # not open for the next test
        client = aioredis.from_url(redis_url)
        for key in [key async for key in client.scan_iter("dpo:breaker:*")]:
            await client.delete(key)
        await client.aclose()

    asyncio.run(forget())  # a circuit another test left behind
    asyncio.run(trip())
    try:
        with web_server(base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url)) as base:
            health = httpx.get(base + "/api/health/").json()
    finally:
        asyncio.run(forget())
    assert health["status"] == "ok"
    assert health["providers"]["clearstream"]["circuit"] == "open"
    assert health["providers"]["clearstream"]["retry_in_seconds"] > 0
    assert health["providers"]["euroclear"] == {"circuit": "closed", "failures": 0}

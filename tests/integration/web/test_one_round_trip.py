"""The rate limit and the query budget of a request in one Redis call, through the real
application under uvicorn (its lifespan, PostgreSQL and Redis): the limits, the 429 and what is
counted stay as they were with two calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn

from app.web import create_app
from dpo.embedded.process import free_port
from dpo.settings import Settings

QUERY = {"query": "{ status { version } }"}


class Served:
    """The server's address and the keys of every script call its Redis client made."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.calls: list[tuple[Any, ...]] = []


@pytest.fixture
async def served(
    migrated_url: str, redis_url: str, redis_client: aioredis.Redis
) -> AsyncIterator[Served]:
    settings = Settings.model_validate(
        {
            "RATE_LIMIT_ANON": "3/min",
            "ALLOWED_HOSTS": "*",
            "RESPONSE_CACHE": "false",
            "GRAPHQL_MAX_COST": "10",
            "GRAPHQL_COST_PER_MINUTE": "10",
        }
    )
    app = create_app(settings, database_url=migrated_url, redis_url=redis_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.02)
    found = Served(f"http://127.0.0.1:{port}")
    redis = app.state.runtime.redis
    evalsha = redis.evalsha

    async def counted(sha: str, numkeys: int, *args: Any) -> Any:
        found.calls.append(tuple(args[:numkeys]))
        return await evalsha(sha, numkeys, *args)

    redis.evalsha = counted
    try:
        yield found
    finally:
        server.should_exit = True
        await task


async def test_one_redis_call_counts_the_request_and_charges_its_cost(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base) as client:
        answers = [await client.post("/graphql", json=QUERY) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    # One call per request that ran, holding both buckets; none more for the refused fourth.
    assert served.calls[:3] == [("dpo:ratelimit:anon:127.0.0.1", "dpo:cost:anon:127.0.0.1")] * 3
    assert len(served.calls) == 4
    # Charged: 10 a minute flow back one unit per 6 s, slower than the requests go.
    remaining = [a.json()["extensions"]["cost"]["remaining"] for a in answers[:3]]
    assert remaining[0] < 10
    assert remaining[2] < remaining[0]
    refused = answers[3]
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert refused.json() == {
        "data": None,
        "errors": [
            {
                "message": f"Too many requests; retry in {refused.headers['retry-after']} s.",
                "extensions": {
                    "code": "RATE_LIMITED",
                    "retryAfter": int(refused.headers["retry-after"]),
                },
            }
        ],
    }


async def test_a_refused_client_is_refused_before_its_body_is_read_without_redis(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.base) as client:
        for _ in range(3):
            assert (await client.post("/graphql", json=QUERY)).status_code == 200
        assert (await client.post("/graphql", json=QUERY)).status_code == 429
        calls = len(served.calls)
        garbage = await client.post(
            "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        again = await client.post("/graphql", json=QUERY)
    assert garbage.status_code == 429
    assert again.status_code == 429
    assert garbage.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert len(served.calls) == calls  # known refused: no round trip, nothing parsed


async def test_requests_no_charge_reaches_are_still_counted(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base) as client:
        bad = [
            await client.post(
                "/graphql", content=b"[1", headers={"Content-Type": "application/json"}
            ),
            await client.post("/graphql", json={"query": "{ nosuchfield }"}),
            await client.get("/graphql", params={"query": "mutation { x }"}),
        ]
        fourth = await client.post("/graphql", json=QUERY)
    assert [r.status_code for r in bad] == [400, 200, 400]
    assert fourth.status_code == 429
    # The three answered without a charge were counted alone; the fourth with its charge.
    assert served.calls == [("dpo:ratelimit:anon:127.0.0.1",)] * 3 + [
        ("dpo:ratelimit:anon:127.0.0.1", "dpo:cost:anon:127.0.0.1")
    ]

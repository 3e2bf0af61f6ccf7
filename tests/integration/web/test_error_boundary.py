"""The 500 path through the real middleware stack under uvicorn: JSON, headed, counted, limited.

An error escaping the application used to reach Starlette's last-resort handler, outside our
middleware: plain text, no X-Request-ID, no security headers. The route here fails on
purpose (no input of the API is known to reach this path any more).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.http.stack import build_middleware
from dpo.embedded.process import free_port
from dpo.settings import Settings


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug: SELECT secret FROM somewhere")


@pytest.fixture
async def base(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    settings = Settings.model_validate({"RATE_LIMIT_ANON": "3/min", "ALLOWED_HOSTS": "*"})
    app = Starlette(
        routes=[Route("/graphql", broken, methods=["POST"])], middleware=build_middleware(settings)
    )
    app.state.runtime = SimpleNamespace(redis=redis_client)  # what the rate limit reads
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_an_escaping_error_is_a_json_500_with_the_headers_and_rate_limited(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient(base_url=base) as client:
        answers = [
            await client.post("/graphql", json={}, headers={"X-Request-ID": f"r-{i}"})
            for i in range(4)
        ]
    for i, response in enumerate(answers[:3]):
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "data": None,
            "errors": [{"message": "Internal server error", "extensions": {"code": "INTERNAL"}}],
        }
        assert response.headers["x-request-id"] == f"r-{i}"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "secret" not in response.text
    assert answers[3].status_code == 429
    assert answers[3].headers["x-request-id"] == "r-3"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 3  # once each, with the request id; never for the refused fourth
    assert [r.getMessage().rsplit(" ", 1)[-1] for r in logged] == ["r-0)", "r-1)", "r-2)"]

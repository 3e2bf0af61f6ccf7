"""Liveness and readiness: the runbook's health path and the replicas' readiness probe."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dpo.health import (
    listener_state,
    probe_database,
    probe_redis,
    probe_rpc,
    provider_circuits,
)
from dpo.providers.factory import PROVIDERS
from dpo.runtime import Runtime
from dpo.sender.health import sender_state


async def health(request: Request) -> Response:
    """Liveness, with the state of the database and Redis (the runbook's health path)."""
    runtime: Runtime = request.app.state.runtime
    database, redis, circuits, listener, sender = await asyncio.gather(
        probe_database(runtime.engine),
        probe_redis(runtime.redis),
        provider_circuits(request.app.state.breakers, PROVIDERS),
        listener_state(runtime.engine),
        sender_state(runtime.engine),
    )
    halted = listener is not None and listener["status"] == "halted"
    status = "ok" if database.ok and redis.ok and not halted else "degraded"
    # A provider's open circuit is reported, never a reason to restart the web service.
    body: dict[str, object] = {
        "status": status,
        "database": database.as_dict(),
        "redis": redis.as_dict(),
        "providers": circuits,
    }
    if listener is not None:
        body["listener"] = listener  # a halt after a deep reorg: docs/LISTENER.md
    if sender is not None:
        # Reverted or failed intents need a person; not a reason to restart web: docs/SENDER.md
        body["sender"] = sender
    return JSONResponse(body)


async def ready(request: Request) -> Response:
    """Readiness: 200 only when the database and Redis answer; the RPC is reported only.

    The web service serves from PostgreSQL and Redis; a chain outage must not take every
    replica out of rotation, so the RPC's state is in the body but never fails readiness.
    """
    runtime: Runtime = request.app.state.runtime
    rpc_urls = [url for url in runtime.settings.rpc_urls() if url.startswith("http")]
    database, redis, *rpc = await asyncio.gather(
        probe_database(runtime.engine),
        probe_redis(runtime.redis),
        *([probe_rpc(rpc_urls[0])] if rpc_urls else []),
    )
    ok = database.ok and redis.ok
    body: dict[str, object] = {
        "status": "ready" if ok else "not ready",
        "database": database.as_dict(),
        "redis": redis.as_dict(),
    }
    if rpc:
        body["rpc"] = rpc[0].as_dict()
    return JSONResponse(body, status_code=200 if ok else 503)

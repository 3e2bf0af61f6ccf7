"""reconciliationBreaks wakes on the break doorbell (Redis), not on its poll.

The subscriber's safety poll is set to a million seconds, so a break can only reach it
because the pass (and resolveBreak) rang after committing: arrival is the proof, not a timer.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from starlette.requests import Request

from app.graphql.schema import build_schema
from dpo.channels import channels_for
from dpo.reconciliation import bell as bell_module
from dpo.runs.runner import start_run
from dpo.runtime import Runtime
from dpo.settings import Settings
from jobs.registry import JOBS
from resolvers.loaders import RequestLoaders
from schema.context import Context
from tests.integration.api.committed import committed_api
from tests.integration.jobs.world import World, address
from tests.integration.services.support import ops

schema = build_schema(debug=False)

BREAKS = "subscription { reconciliationBreaks { id holder kind status } }"
RESOLVE = "mutation($id: ID!) { resolveBreak(id: $id) { status } }"
NEVER = 10**6  # seconds: the subscription's safety poll never fires during the test


@pytest.fixture
async def runtime(pg_server_url: str, redis_url: str) -> AsyncIterator[tuple[Runtime, str]]:
    prefix = "bell" + secrets.token_hex(4)  # this test's own channels
    settings = Settings.model_validate({"REDIS_CHANNEL_PREFIX": prefix})
    async with committed_api(pg_server_url) as api:
        made = Runtime(
            settings=settings,
            engine=api.runtime.engine,
            sessions=api.runtime.sessions,
            redis=aioredis.from_url(redis_url),
            channels=channels_for(redis_url, prefix),
        )
        try:
            yield made, api.url
        finally:
            await bell_module.close_bell(made.redis)
            await made.redis.aclose()


async def _waiting(redis: Any) -> bell_module.BreakBell:
    """The bell once the subscriber waits on it (it has read its starting mark)."""
    for _ in range(600):
        bell = bell_module._BELLS.get(id(redis))
        if bell is not None and bell.waiting:
            return bell
        await asyncio.sleep(0.05)
    raise AssertionError("the subscriber never started waiting")


async def _reconcile(runtime: Runtime, url: str) -> dict[str, Any]:
    started = await start_run(
        JOBS["reconcile_positions"],
        settings=runtime.settings,
        sessions=runtime.sessions,
        redis=runtime.redis,
        database_url=url,
    )
    row = await started.execute()
    assert row.status == "succeeded", row.error
    return dict(row.counts)


async def test_a_new_break_wakes_the_subscriber_through_redis(
    runtime: tuple[Runtime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, url = runtime
    monkeypatch.setattr(rt.settings, "feed_poll_interval", NEVER)
    world = World(rt.sessions)
    offering, holder = await world.offering(), address()
    await world.ledger(offering, holder, 10)
    await world.chain(offering, holder, 9)
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    stream = await schema.subscribe(
        BREAKS,
        context_value=Context(
            request=request, runtime=rt, make_loaders=RequestLoaders, principal=ops()
        ),
    )
    iterator: Any = stream
    next_result = asyncio.ensure_future(iterator.__anext__())
    try:
        bell = await _waiting(rt.redis)
        rung = bell.generation
        counts = await _reconcile(rt, url)
        assert counts["breaks_opened"] == 1
        opened = await asyncio.wait_for(next_result, 60)
        assert not opened.errors, opened.errors
        found = opened.data["reconciliationBreaks"]
        assert (found["holder"], found["kind"], found["status"]) == (
            holder,
            "quantity_mismatch",
            "OPEN",
        )
        assert bell.generation > rung  # it came through the bell

        # A pass that changes nothing rings nothing.
        quiet = bell.generation
        assert (await _reconcile(rt, url))["breaks_opened"] == 0
        assert bell.generation == quiet

        # resolveBreak rings too, after its commit.
        next_result = asyncio.ensure_future(iterator.__anext__())
        await _waiting(rt.redis)
        answer = await schema.execute(
            RESOLVE,
            variable_values={"id": found["id"]},
            context_value=Context(
                request=request, runtime=rt, make_loaders=RequestLoaders, principal=ops()
            ),
        )
        assert not answer.errors, answer.errors
        closed = await asyncio.wait_for(next_result, 60)
        assert closed.data["reconciliationBreaks"]["status"] == "RESOLVED"
    finally:
        next_result.cancel()
        await iterator.aclose()

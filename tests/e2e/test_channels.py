"""Two deployments on one Redis server, on different database numbers, do not hear each other.

Pub/sub channels ignore the database number, so each deployment's channel names carry it
(dpo.channels). Each `dpo web` here subscribes its response cache to its own invalidation and
feed channels; a message on the other deployment's channels must not flush its cache.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import redis.asyncio as aioredis

from dpo.channels import channels_for
from dpo.invalidation import announce_write
from listener.publish import publish_feed
from tests.e2e.conftest import base_env, web_server

REMOTE = re.compile(
    r'^dpo_graphql_response_cache_invalidations_total\{cause="remote"\} (\S+)$', re.MULTILINE
)


def on_db(redis_url: str, db: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


async def remote_flushes(client: httpx.AsyncClient) -> float:
    """How often this server's cache was flushed by another process's message."""
    match = REMOTE.search((await client.get("/metrics")).text)
    return float(match.group(1)) if match else 0.0


async def ring(url: str) -> None:
    """What a deployment on this Redis URL sends after a write and after an ingest."""
    channels = channels_for(url)
    client = aioredis.from_url(url)
    try:
        await announce_write(client, channel=channels.invalidate, origin="elsewhere")
        await publish_feed(client, channel=channels.feed, chain_id=1, first_seq=1, last_seq=1)
    finally:
        await client.aclose()


async def wait_for(client: httpx.AsyncClient, at_least: float) -> float:
    """The flush count once it reaches `at_least` (or after 10 s)."""
    deadline = time.monotonic() + 10
    count = await remote_flushes(client)
    for _ in range(1000):
        if count >= at_least or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
        count = await remote_flushes(client)
    return count


async def test_deployments_on_different_redis_databases_do_not_hear_each_other(
    migrated_url: str, redis_url: str
) -> None:
    staging, production = on_db(redis_url, 6), on_db(redis_url, 5)
    assert channels_for(staging).all != channels_for(production).all

    def env(url: str) -> dict[str, str]:
        return base_env(
            DATABASE_URL=migrated_url, REDIS_URL=url, RESPONSE_CACHE="true", LOG_LEVEL="WARNING"
        )

    with web_server(env(production)) as prod_base, web_server(env(staging)) as staging_base:
        async with (
            httpx.AsyncClient(base_url=prod_base, timeout=30) as prod,
            httpx.AsyncClient(base_url=staging_base, timeout=30) as stage,
        ):
            # Each server hears its own deployment's messages (so it is listening at all)...
            await ring(production)
            prod_before = await wait_for(prod, 2)
            await ring(staging)
            stage_before = await wait_for(stage, 2)
            assert prod_before == 2
            assert stage_before == 2
            # ...and not the other's: staging rings three times, production once.
            for _ in range(3):
                await ring(staging)
            await ring(production)
            await wait_for(prod, prod_before + 2)
            await wait_for(stage, stage_before + 6)
            await asyncio.sleep(0.5)  # anything still in flight would arrive by now
            prod_final, stage_final = await remote_flushes(prod), await remote_flushes(stage)
    # Two messages per ring (the write and the doorbell), each heard by its deployment only.
    assert prod_final - prod_before == 2
    assert stage_final - stage_before == 6

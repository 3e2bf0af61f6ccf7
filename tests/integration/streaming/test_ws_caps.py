"""Connection caps shared through a real Redis by several processes' lease holders."""

from __future__ import annotations

import asyncio
import secrets

import redis.asyncio as aioredis

from app.subscriptions.ws_caps import ConnectionCaps


def namespace() -> str:
    return "test:caps:" + secrets.token_hex(6)


async def test_two_processes_share_the_cap_and_a_release_frees_a_place(
    redis_client: aioredis.Redis,
) -> None:
    prefix = namespace()
    one, two = ConnectionCaps(prefix=prefix), ConnectionCaps(prefix=prefix)
    first = await one.take(redis_client, "user", "user:1", 2)
    second = await two.take(redis_client, "user", "user:1", 2)
    third = await two.take(redis_client, "user", "user:1", 2)
    other_user = await two.take(redis_client, "user", "user:2", 2)
    assert first is not None
    assert second is not None
    assert third is None
    assert other_user is not None
    await one.release(first)
    again = await two.take(redis_client, "user", "user:1", 2)
    assert again is not None
    for caps in (one, two):
        caps.stop_renewing()


async def test_a_crashed_process_leases_run_out_and_live_ones_are_renewed(
    redis_client: aioredis.Redis,
) -> None:
    prefix = namespace()
    crashed, alive = (
        ConnectionCaps(lease_seconds=1, prefix=prefix),
        ConnectionCaps(lease_seconds=1, prefix=prefix),
    )
    assert await crashed.take(redis_client, "address", "10.0.0.1", 2) is not None
    assert await alive.take(redis_client, "address", "10.0.0.1", 2) is not None
    crashed.stop_renewing()  # it never releases nor renews again
    assert await alive.take(redis_client, "address", "10.0.0.1", 2) is None
    await asyncio.sleep(2.5)  # more than two lease periods
    # The crashed lease ran out; the renewed one still counts.
    assert await alive.take(redis_client, "address", "10.0.0.1", 2) is not None
    assert await alive.take(redis_client, "address", "10.0.0.1", 2) is None
    alive.stop_renewing()


async def test_without_redis_the_process_counts_alone() -> None:
    caps = ConnectionCaps(prefix=namespace())
    unreachable = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    first = await caps.take(unreachable, "user", "user:1", 1)
    assert first is not None
    assert await caps.take(unreachable, "user", "user:1", 1) is None
    await caps.release(first)
    assert await caps.take(None, "user", "user:1", 1) is not None
    await unreachable.aclose()

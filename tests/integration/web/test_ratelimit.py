"""The GCRA limiter against a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from dpo.embedded.process import free_port
from dpo.ratelimit import RateLimiter


async def test_burst_up_to_the_limit_then_refused(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    decisions = [await limiter.hit("anon:1.2.3.4", rate=(5, 60)) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 1 <= decisions[5].retry_after <= 12
    assert not decisions[0].degraded


async def test_keys_are_independent_and_expire(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    for _ in range(2):
        assert (await limiter.hit("anon:a", rate=(2, 60))).allowed
    assert not (await limiter.hit("anon:a", rate=(2, 60))).allowed
    assert (await limiter.hit("anon:b", rate=(2, 60))).allowed
    ttl = await redis_client.pttl("dpo:ratelimit:anon:a")
    assert 0 < ttl <= 60_000


async def test_two_limiters_share_the_count(redis_client: aioredis.Redis, redis_url: str) -> None:
    other = aioredis.from_url(redis_url)
    try:
        first, second = RateLimiter(redis_client), RateLimiter(other)
        results = [await (first if i % 2 else second).hit("user:7", rate=(4, 60)) for i in range(5)]
    finally:
        await other.aclose()
    assert [r.allowed for r in results] == [True] * 4 + [False]


async def test_redis_down_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        decision = await RateLimiter(dead).hit("anon:x", rate=(1, 60))
        again = await RateLimiter(dead).hit("anon:x", rate=(1, 60))
    finally:
        await dead.aclose()
    assert decision.allowed
    assert again.allowed
    assert decision.degraded
    assert "rate limiter unavailable" in caplog.text


async def test_spend_takes_weighted_units_all_or_nothing(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix="dpo:test-cost:")
    budget = (1000, 60)
    first = await limiter.spend("user:9", budget=budget, weight=600)
    second = await limiter.spend("user:9", budget=budget, weight=300)
    too_much = await limiter.spend("user:9", budget=budget, weight=200)
    small = await limiter.spend("user:9", budget=budget, weight=50)
    other = await limiter.spend("user:10", budget=budget, weight=1000)
    assert (first.allowed, second.allowed, too_much.allowed, small.allowed) == (
        True,
        True,
        False,
        True,
    )
    assert 399 <= first.remaining <= 401
    assert 99 <= second.remaining <= 101
    assert 99 <= too_much.remaining <= 102  # refused: nothing taken
    assert 1 <= too_much.retry_after <= 7  # 100 more units flow back in 6 s
    assert 49 <= small.remaining <= 52
    assert other.allowed
    assert other.remaining == 0
    assert not (await limiter.spend("user:10", budget=budget, weight=1)).allowed
    assert (await limiter.spend("user:10", budget=budget, weight=0)).allowed
    # Plain hits keep their meaning next to weighted spends.
    assert (await RateLimiter(redis_client).hit("anon:spend", rate=(1, 60))).allowed


async def test_a_hit_and_a_spend_in_one_call_keep_the_order_of_two(
    redis_client: aioredis.Redis,
) -> None:
    limiter = RateLimiter(redis_client)
    budget = (100, 60)
    pairs = [
        await limiter.hit_and_spend(
            "anon:pair", rate=(2, 60), budget_key="dpo:test-cost:pair", budget=budget, weight=30
        )
        for _ in range(3)
    ]
    assert [(hit.allowed, spent is not None) for hit, spent in pairs] == [
        (True, True),
        (True, True),
        (False, False),  # refused by the rate: nothing spent
    ]
    assert [hit.remaining for hit, _ in pairs[:2]] == [1, 0]
    assert 1 <= pairs[2][0].retry_after <= 30
    assert 29_000 <= pairs[2][0].wait_ms <= 30_000
    assert [spent.remaining for _, spent in pairs[:2] if spent] == [70, 40]
    # The budget saw two spends of 30: 40 left, so 50 more is refused and 40 is not.
    budget_only = RateLimiter(redis_client, prefix="dpo:test-cost:")
    assert not (await budget_only.spend("pair", budget=budget, weight=50)).allowed
    assert (await budget_only.spend("pair", budget=budget, weight=40)).allowed


async def test_a_spend_refused_in_the_pair_still_counts_the_hit(
    redis_client: aioredis.Redis,
) -> None:
    limiter = RateLimiter(redis_client)
    hit, spent = await limiter.hit_and_spend(
        "anon:big", rate=(2, 60), budget_key="dpo:test-cost:big", budget=(10, 60), weight=11
    )
    assert hit.allowed
    assert spent is not None
    assert not spent.allowed
    assert (await limiter.hit("anon:big", rate=(2, 60))).remaining == 0


async def test_the_pair_lets_requests_through_when_redis_is_down() -> None:
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        hit, spent = await RateLimiter(dead).hit_and_spend(
            "anon:x", rate=(1, 60), budget_key="dpo:cost:anon:x", budget=(1, 60), weight=5
        )
    finally:
        await dead.aclose()
    assert hit.allowed
    assert hit.degraded
    assert spent is not None
    assert spent.allowed
    assert spent.degraded

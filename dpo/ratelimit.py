"""A GCRA rate limiter in Redis: one atomic Lua script, shared by every replica."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dpo.errors import RateLimitedError

logger = logging.getLogger(__name__)

# GCRA keeps one number per key, the "theoretical arrival time" (TAT) in milliseconds.
# Redis's own clock is used, so replicas with drifting clocks still agree. A request may weigh
# more than one unit (ARGV[3], a query's cost): it moves the TAT on by that many intervals, which
# may be fractions of a millisecond.
_GCRA = """
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local weight = tonumber(ARGV[3] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * weight
local allow_at = new_tat - period
if now < allow_at then
  return {0, math.ceil(allow_at - now), math.floor((period - (tat - now)) / interval)}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, 0, math.floor((now - allow_at) / interval)}
"""
# A slow Redis must not hold requests up: past this the request is let through.
REDIS_TIMEOUT = 0.5
_WARN_EVERY = 30.0


@dataclass(frozen=True)
class Decision:
    """The verdict on one request."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds, >= 1 when refused

    @property
    def degraded(self) -> bool:
        """Whether no verdict was reached (Redis unreachable) and the request let through."""
        return self.remaining < 0


class RateLimiter:
    """Count requests per key under `requests per seconds` limits (GCRA, burst = limit)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "dpo:ratelimit:") -> None:
        self._script = redis.register_script(_GCRA)
        self._prefix = prefix
        self._last_warning = 0.0

    async def hit(self, key: str, *, rate: tuple[int, int]) -> Decision:
        """Count one request for `key`; `rate` is (requests, seconds) as from parse_rate."""
        requests, seconds = rate
        period_ms = seconds * 1000
        interval_ms = max(1, period_ms // max(1, requests))
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                allowed, wait_ms, remaining = await self._script(
                    keys=[self._prefix + key], args=[interval_ms, interval_ms * requests]
                )
        except (RedisError, OSError, TimeoutError) as error:
            # Availability over strictness: a Redis outage must not take the API down.
            self._warn(error)
            return Decision(allowed=True, limit=requests, remaining=-1, retry_after=0)
        if int(allowed):
            return Decision(allowed=True, limit=requests, remaining=int(remaining), retry_after=0)
        return Decision(
            allowed=False,
            limit=requests,
            remaining=0,
            retry_after=max(1, math.ceil(int(wait_ms) / 1000)),
        )

    async def spend(self, key: str, *, budget: tuple[int, int], weight: int) -> Decision:
        """Take `weight` units of `budget` (units, seconds) for `key`, all or nothing.

        Refused when fewer than `weight` units are left; `remaining` is then what is left, and
        `retry_after` when enough will be. Redis unreachable: allowed, remaining -1 (degraded).
        """
        units, seconds = budget
        period_ms = seconds * 1000
        interval_ms = period_ms / max(1, units)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                allowed, wait_ms, remaining = await self._script(
                    keys=[self._prefix + key], args=[repr(interval_ms), period_ms, max(0, weight)]
                )
        except (RedisError, OSError, TimeoutError) as error:
            self._warn(error)
            return Decision(allowed=True, limit=units, remaining=-1, retry_after=0)
        left = max(0, min(units, int(remaining)))
        if int(allowed):
            return Decision(allowed=True, limit=units, remaining=left, retry_after=0)
        return Decision(
            allowed=False,
            limit=units,
            remaining=left,
            retry_after=max(1, math.ceil(int(wait_ms) / 1000)),
        )

    def _warn(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY:
            self._last_warning = now
            logger.warning(
                "rate limiter unavailable, letting requests through: %s", type(error).__name__
            )


def refusal(decision: Decision) -> RateLimitedError:
    """The error of a request over its limit (extensions.code RATE_LIMITED, retryAfter)."""
    return RateLimitedError(
        f"Too many requests; retry in {decision.retry_after} s.", retry_after=decision.retry_after
    )


async def limit_sign_in(
    limiter: RateLimiter,
    *,
    address: str,
    account: str | None,
    counted: str | None,
    rate: tuple[int, int],
) -> None:
    """Count one sign-in step against the address and the account; RateLimitedError if over.

    The address bucket is the HTTP middleware's anonymous one (`anon:<address>`), so password
    guesses cost the same whichever transport carries them: skipped when the middleware
    already counted this request there (`counted`). `account` (a staff e-mail) has a bucket
    of its own at the same rate, so guesses spread over many addresses are slowed too.
    """
    keys = [] if counted == f"anon:{address}" else [f"anon:{address}"]
    if account:
        digest = hashlib.blake2b(account.strip().lower().encode(), digest_size=16).hexdigest()
        keys.append(f"signin:{digest}")
    for key in keys:
        decision = await limiter.hit(key, rate=rate)
        if not decision.allowed:
            logger.info("sign-in rate limit exceeded; retry after %d s", decision.retry_after)
            raise refusal(decision)

"""A GCRA rate limiter in Redis: one atomic Lua script, shared by every replica."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from dpo.errors import RateLimitedError

logger = logging.getLogger(__name__)

# GCRA keeps one number per key, the "theoretical arrival time" (TAT) in milliseconds.
# Redis's own clock is used, so replicas with drifting clocks still agree. A request may weigh
# more than one unit (a query's cost): it moves the TAT on by that many intervals, which may be
# fractions of a millisecond. `gcra` answers {allowed, wait ms, remaining}.
_FUNCTION = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function gcra(key, interval, period, weight)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval * weight
  local allow_at = new_tat - period
  if now < allow_at then
    return {0, math.ceil(allow_at - now), math.floor((period - (tat - now)) / interval)}
  end
  redis.call('SET', key, new_tat, 'PX', math.max(1, math.ceil(new_tat - now)))
  return {1, 0, math.floor((now - allow_at) / interval)}
end
"""
_GCRA = (
    _FUNCTION
    + """
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3] or '1'))
"""
)
# One request's rate-limit hit (KEYS[1], ARGV 1-2) and its weighted spend (KEYS[2], ARGV 3-5)
# in one round trip: the spend is tried only when the hit is allowed, so a refused request takes
# nothing from the budget, exactly as two calls in that order would. Six numbers come back, the
# hit's three and the spend's (allowed -1 when it was not tried).
_GCRA_PAIR = (
    _FUNCTION
    + """
local hit = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 1)
if hit[1] == 0 then return {hit[1], hit[2], hit[3], -1, 0, 0} end
local spent = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {hit[1], hit[2], hit[3], spent[1], spent[2], spent[3]}
"""
)
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
    # When refused, the milliseconds until Redis would allow it (a refused request moves
    # nothing, so until then every request of the key is refused): see app.http.ratelimit.
    wait_ms: int = 0

    @property
    def degraded(self) -> bool:
        """Whether no verdict was reached (Redis unreachable) and the request let through."""
        return self.remaining < 0


def _hit_args(rate: tuple[int, int]) -> list[int]:
    requests, seconds = rate
    interval_ms = max(1, seconds * 1000 // max(1, requests))
    return [interval_ms, interval_ms * requests]


def _hit_decision(requests: int, allowed: int, wait_ms: int, remaining: int) -> Decision:
    if int(allowed):
        return Decision(allowed=True, limit=requests, remaining=int(remaining), retry_after=0)
    return Decision(
        allowed=False,
        limit=requests,
        remaining=0,
        retry_after=max(1, math.ceil(int(wait_ms) / 1000)),
        wait_ms=int(wait_ms),
    )


def _spend_args(budget: tuple[int, int], weight: int) -> list[int | str]:
    units, seconds = budget
    period_ms = seconds * 1000
    return [repr(period_ms / max(1, units)), period_ms, max(0, weight)]


def _spend_decision(units: int, allowed: int, wait_ms: int, remaining: int) -> Decision:
    left = max(0, min(units, int(remaining)))
    if int(allowed):
        return Decision(allowed=True, limit=units, remaining=left, retry_after=0)
    return Decision(
        allowed=False,
        limit=units,
        remaining=left,
        retry_after=max(1, math.ceil(int(wait_ms) / 1000)),
        wait_ms=int(wait_ms),
    )


class RateLimiter:
    """Count requests per key under `requests per seconds` limits (GCRA, burst = limit)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "dpo:ratelimit:") -> None:
        self._redis = redis
        self._script = redis.register_script(_GCRA)
        self._pair: AsyncScript | None = None  # registered on first use
        self._prefix = prefix
        self._last_warning = 0.0

    async def hit(self, key: str, *, rate: tuple[int, int]) -> Decision:
        """Count one request for `key`; `rate` is (requests, seconds) as from parse_rate."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                reply = await self._script(keys=[self._prefix + key], args=_hit_args(rate))
        except (RedisError, OSError, TimeoutError) as error:
            # Availability over strictness: a Redis outage must not take the API down.
            self._warn(error)
            return Decision(allowed=True, limit=rate[0], remaining=-1, retry_after=0)
        return _hit_decision(rate[0], *reply)

    async def spend(self, key: str, *, budget: tuple[int, int], weight: int) -> Decision:
        """Take `weight` units of `budget` (units, seconds) for `key`, all or nothing.

        Refused when fewer than `weight` units are left; `remaining` is then what is left, and
        `retry_after` when enough will be. Redis unreachable: allowed, remaining -1 (degraded).
        """
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                reply = await self._script(
                    keys=[self._prefix + key], args=_spend_args(budget, weight)
                )
        except (RedisError, OSError, TimeoutError) as error:
            self._warn(error)
            return Decision(allowed=True, limit=budget[0], remaining=-1, retry_after=0)
        return _spend_decision(budget[0], *reply)

    async def hit_and_spend(
        self,
        key: str,
        *,
        rate: tuple[int, int],
        budget_key: str,
        budget: tuple[int, int],
        weight: int,
    ) -> tuple[Decision, Decision | None]:
        """`hit(key)`, then, if allowed, `spend` on `budget_key` (a whole Redis key, not
        prefixed): one script, one round trip. The spend's decision is None when the hit was
        refused (nothing was spent). Redis unreachable: both allowed and degraded."""
        if self._pair is None:
            self._pair = self._redis.register_script(_GCRA_PAIR)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                reply = await self._pair(
                    keys=[self._prefix + key, budget_key],
                    args=[*_hit_args(rate), *_spend_args(budget, weight)],
                )
        except (RedisError, OSError, TimeoutError) as error:
            self._warn(error)
            return (
                Decision(allowed=True, limit=rate[0], remaining=-1, retry_after=0),
                Decision(allowed=True, limit=budget[0], remaining=-1, retry_after=0),
            )
        hit = _hit_decision(rate[0], *reply[:3])
        if int(reply[3]) < 0:
            return hit, None
        return hit, _spend_decision(budget[0], *reply[3:])

    def _warn(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY:
            self._last_warning = now
            logger.warning(
                "rate limiter unavailable, letting requests through: %s", type(error).__name__
            )


class RefusedBuckets:
    """The buckets this process saw refused, each until Redis would allow it again.

    GCRA refuses a request without moving the bucket, and other requests only move it later,
    so every request of a refused bucket is refused until its wait is over, by whichever
    replica: the answer is known without asking Redis. Bounded: past `size` buckets the
    oldest is forgotten (Redis still answers for it).
    """

    def __init__(self, size: int = 10_000) -> None:
        self._until: dict[str, float] = {}
        self._size = size

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key` may be allowed again; 0 when it is not known refused."""
        until = self._until.get(key)
        if until is None:
            return 0
        left = until - time.monotonic()
        if left <= 0:
            del self._until[key]
            return 0
        return max(1, math.ceil(left))

    def remember(self, key: str, wait_ms: int) -> None:
        """`key` was refused, allowed again in `wait_ms` milliseconds."""
        if wait_ms <= 0:
            return
        if len(self._until) >= self._size and key not in self._until:
            # The oldest entry, in O(1): a flood from many addresses must not make each
            # refusal scan the table.
            del self._until[next(iter(self._until))]
        self._until[key] = time.monotonic() + wait_ms / 1000


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

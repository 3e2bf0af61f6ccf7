"""Connection caps per user and per address, shared by every web process through Redis.

Each open connection holds a lease: a member of the sorted set `dpo:ws:caps:<kind>:<key>`
scored with its expiry (Redis's clock). Taking one drops the expired members, counts the rest
and adds ours only under the cap, in one script. The process renews its leases every third of
WS_CAPS_LEASE_SECONDS, so a process that crashed stops counting once its leases run out. While
Redis cannot be reached the caps fall back to this process's own counts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import Counter, defaultdict
from contextlib import suppress
from typing import Any

from redis.exceptions import RedisError
from starlette.types import Scope

logger = logging.getLogger(__name__)

PREFIX = "dpo:ws:caps"
# Redis calls of the caps in flight at once, per process.
REDIS_CALLS = 16
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
_RENEW = """
local now = redis.call('TIME')
local until_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_ms, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""


class Lease:
    """One connection counted against one key."""

    __slots__ = ("key", "member", "redis")

    def __init__(self, key: str, member: str, redis: Any) -> None:
        self.key = key
        self.member = member
        self.redis = redis  # None: counted locally only


class ConnectionCaps:
    """Leases of this process; counts shared through Redis when it answers."""

    def __init__(self, *, lease_seconds: float = 60.0, prefix: str = PREFIX) -> None:
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.prefix = prefix
        self.process = uuid.uuid4().hex[:12]
        self._ids = itertools.count()
        self.local: Counter[str] = Counter()
        self.leases: dict[str, Lease] = {}
        # A burst of connections must not take every connection of the shared Redis pool.
        self._gate = asyncio.Semaphore(REDIS_CALLS)
        self._renewer: asyncio.Task[None] | None = None

    async def take(self, redis: Any, kind: str, key: str, cap: int) -> Lease | None:
        """A lease on `kind:key` unless `cap` connections already hold one; None if not."""
        name = f"{self.prefix}:{kind}:{key}"
        member = f"{self.process}:{next(self._ids)}"
        if redis is not None:
            try:
                async with self._gate:
                    taken = await redis.eval(_TAKE, 1, name, cap, self.lease_ms, member)
            except (RedisError, OSError) as error:
                logger.warning(
                    "connection caps counted in this process only (%s)", type(error).__name__
                )
            else:
                if not int(taken):
                    return None
                lease = Lease(name, member, redis)
                self.leases[member] = lease
                self._start_renewing()
                return lease
        if self.local[name] >= cap:
            return None
        self.local[name] += 1
        return Lease(name, member, None)

    async def release(self, lease: Lease) -> None:
        """Give a lease back (a lost one runs out by itself)."""
        if lease.redis is None:
            self.local[lease.key] -= 1
            if self.local[lease.key] <= 0:
                del self.local[lease.key]
            return
        self.leases.pop(lease.member, None)
        with suppress(RedisError, OSError):
            async with self._gate:
                await lease.redis.zrem(lease.key, lease.member)

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="ws-caps-renew")

    async def _renew_forever(self) -> None:
        while self.leases:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                await self.renew()
            except (RedisError, OSError) as error:
                logger.warning("could not renew connection leases (%s)", type(error).__name__)

    async def renew(self) -> None:
        """Push every lease of this process one lease period ahead."""
        by_client: dict[int, tuple[Any, dict[str, list[str]]]] = {}
        for lease in list(self.leases.values()):
            _, keys = by_client.setdefault(id(lease.redis), (lease.redis, defaultdict(list)))
            keys[lease.key].append(lease.member)
        for redis, keys in by_client.values():
            async with redis.pipeline(transaction=False) as pipe:
                for key, members in keys.items():
                    pipe.eval(_RENEW, 1, key, self.lease_ms, *members)
                await pipe.execute()

    def stop_renewing(self) -> None:
        """Stop renewing (as a crashed process would); the leases run out."""
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None


def caps_of(scope: Scope) -> ConnectionCaps:
    """The application's connection caps (built in its lifespan, app.web)."""
    caps = scope["app"].state.caps
    assert isinstance(caps, ConnectionCaps)
    return caps


def caps_redis(scope: Scope) -> Any:
    """The Redis client the caps are shared through (None: this process only)."""
    app = scope.get("app")
    runtime = getattr(app.state, "runtime", None) if app is not None else None
    return getattr(runtime, "redis", None)

"""The names of our Redis pub/sub channels: one namespace per deployment.

Redis keys live in a numbered database, but pub/sub channels do not: every client of one
Redis server hears every channel, whatever database it selected. Two deployments sharing a
server on different database numbers (staging on /1, production on /0) would otherwise
ring each other's subscribers and flush each other's response caches. So every channel name
carries the database number of the Redis URL and a prefix (REDIS_CHANNEL_PREFIX, default
`dpo`): `dpo:0:feed`, `dpo:0:invalidate`, `dpo:0:breaks`. Every publisher and subscriber
takes its names from here; the web service, the listener and the jobs of one deployment must
share both the Redis URL's database and the prefix (they do when they share the variables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from redis.connection import parse_url

DEFAULT_PREFIX = "dpo"
PREFIX = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Channels:
    """The channel names of one deployment."""

    prefix: str = DEFAULT_PREFIX
    db: int = 0

    @property
    def feed(self) -> str:
        """The listener's doorbell after each commit that added feed items."""
        return f"{self.prefix}:{self.db}:feed"

    @property
    def invalidate(self) -> str:
        """A committed write: every response cache drops its answers."""
        return f"{self.prefix}:{self.db}:invalidate"

    @property
    def breaks(self) -> str:
        """Reconciliation breaks changed (a pass, resolveBreak): subscribers read them now."""
        return f"{self.prefix}:{self.db}:breaks"

    @property
    def all(self) -> tuple[str, ...]:
        """Every channel, for tests and tools (response caches hear every one of them)."""
        return (self.feed, self.invalidate, self.breaks)


def redis_db(url: str) -> int:
    """The database number a Redis URL selects (`/3` or `?db=3`; 0 when it names none)."""
    try:
        db = parse_url(url).get("db")  # type: ignore[no-untyped-call]
    except ValueError:
        return 0
    return int(db) if db is not None else 0


def channels_for(redis_url: str, prefix: str | None = None) -> Channels:
    """The channels of the deployment using this Redis URL and prefix."""
    chosen = prefix or DEFAULT_PREFIX
    if not PREFIX.match(chosen):
        raise ValueError(f"channel prefix must be 1-64 of A-Z a-z 0-9 . _ -, got {chosen!r}")
    return Channels(prefix=chosen, db=redis_db(redis_url))


def channels_of(redis: Any, prefix: str | None = None) -> Channels:
    """The channels of the deployment a Redis client belongs to (its selected database)."""
    kwargs = getattr(getattr(redis, "connection_pool", None), "connection_kwargs", {})
    chosen = prefix or DEFAULT_PREFIX
    return Channels(prefix=chosen, db=int(kwargs.get("db") or 0))

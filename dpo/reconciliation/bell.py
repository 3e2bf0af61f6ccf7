"""The doorbell of reconciliation breaks: Redis rings, PostgreSQL answers.

A writer that changed breaks (a reconciliation pass that opened, updated or closed some; a
`resolveBreak`) publishes on `Channels.breaks` (dpo.channels) after its commit. Each web
process keeps one subscription (`BreakBell`), and every `reconciliationBreaks` subscriber
waits on it instead of sleeping a poll period: a ring wakes them all, and each reads the
breaks after its `(revision, id)` cursor from the database. The message carries nothing they
rely on, so a lost one costs latency only: subscribers still read every FEED_POLL_INTERVAL,
and a lost Redis connection is re-subscribed with backoff and rings once (what changed while
it was away is read at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 1.0  # a hung Redis must not hold a writer
MAX_BACKOFF = 5.0
STOP_SECONDS = 2.0


async def ring_breaks(redis: Any, *, channel: str, revision: int | None = None) -> None:
    """Tell every break subscriber that breaks changed; never raises."""
    try:
        await asyncio.wait_for(redis.publish(channel, str(revision or "")), PUBLISH_TIMEOUT)
    except (RedisError, OSError, TimeoutError) as error:
        logger.warning("break doorbell not rung (subscribers poll): %s", type(error).__name__)


class BreakBell:
    """One Redis subscription per process; a generation number every subscriber waits on."""

    def __init__(self, redis: Any, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.generation = 0
        self.waiting = 0  # subscribers waiting for a ring now
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.subscribed = asyncio.Event()

    def ring(self) -> None:
        """Wake every waiter (a message arrived, or we re-subscribed)."""
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: int, seconds: float) -> int:
        """Return once the generation moved past `seen`, or after `seconds`; the generation."""
        if self.generation != seen:
            return self.generation
        changed = self._changed
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), seconds)
        finally:
            self.waiting -= 1
        return self.generation

    async def start(self) -> None:
        """Start listening; returns once subscribed (or after 5 s: polling covers)."""
        self._task = asyncio.create_task(self._listen(), name="break-bell")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5)

    async def stop(self) -> None:
        """Stop listening (bounded: a shutdown never hangs on it)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=STOP_SECONDS)
            self._task = None

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                backoff = 0.1
                self.ring()  # whatever changed while unsubscribed is read now
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.ring()
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                logger.warning(
                    "break doorbell lost (%s); retrying in %.1fs", type(error).__name__, backoff
                )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


_BELLS: dict[int, BreakBell] = {}
_LOCK = asyncio.Lock()


async def get_bell(redis: Any, channel: str) -> BreakBell:
    """The process's bell for this Redis client and channel, started on first use."""
    key = id(redis)
    bell = _BELLS.get(key)
    if bell is not None:
        return bell
    async with _LOCK:
        bell = _BELLS.get(key)
        if bell is None:
            bell = BreakBell(redis, channel)
            await bell.start()
            _BELLS[key] = bell
    return bell


async def close_bell(redis: Any) -> None:
    """Stop the bell of this Redis client, if one was started."""
    bell = _BELLS.pop(id(redis), None)
    if bell is not None:
        await bell.stop()

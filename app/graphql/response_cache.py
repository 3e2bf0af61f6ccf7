"""Encoded GraphQL query answers per caller, dropped whenever any committed write is announced.

Validity is a local generation number. It moves on (and every entry is dropped) when this
process runs a mutation — before the mutation's answer leaves, so a client reads its own
writes — and when a message arrives on the invalidation channel (mutations of other
replicas, jobs) or the feed doorbell (each listener commit). An answer is stored with the
generation seen when its execution *started*, so a write that commits while it runs makes it
unusable. Pub/sub can lose messages (a reconnect, a crash between commit and publish), so
each entry also has a maximum age counted from the start of its execution: no answer is ever
served more than RESPONSE_CACHE_MAX_AGE seconds after the data it shows was read. While the
subscription is down the cache is bypassed; requests are then simply executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from app.http.metrics import REGISTRY
from dpo.channels import Channels
from dpo.invalidation import announce_write

logger = logging.getLogger(__name__)

LOOKUPS = Counter(
    "dpo_graphql_response_cache_total",
    "GraphQL requests by response cache outcome (hit, coalesced, miss, bypass).",
    ["result"],
    registry=REGISTRY,
)
ENTRIES = Gauge(
    "dpo_graphql_response_cache_entries", "Answers held by the response cache.", registry=REGISTRY
)
INVALIDATIONS = Counter(
    "dpo_graphql_response_cache_invalidations_total",
    "Times the response cache was emptied, by cause.",
    ["cause"],
    registry=REGISTRY,
)

RETRY_SECONDS = 1.0  # between attempts to subscribe again
PING_SECONDS = 5.0  # an idle subscription is pinged this often, so a dead link is noticed
# Stopping waits at most this long for the listening task (a cancellation that lands
# inside redis-py's read timeout can be swallowed; the task then ends at its next check).
STOP_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """When an execution started: the generation it may be stored under, and its clock."""

    generation: int
    started: float


@dataclass(frozen=True, slots=True)
class Entry:
    """An encoded answer and what it is valid for."""

    generation: int
    started: float
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class ResponseCache:
    """A size-capped LRU of answers, valid for one generation and a maximum age."""

    def __init__(
        self,
        *,
        max_age: float,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.generation = 0
        # False until the invalidation channels are subscribed: unheard writes are possible.
        self.healthy = False
        self._clock = clock
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._bytes = 0
        # Keys being executed now, with the generation they started under: identical
        # requests arriving meanwhile wait for that answer instead of running it again.
        self._flights: dict[Hashable, tuple[int, asyncio.Future[Entry | None]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self) -> Ticket:
        """Call before executing a request whose answer may be stored."""
        return Ticket(self.generation, self._clock())

    def get(self, key: Hashable) -> Entry | None:
        """The stored answer if still valid."""
        if not self.healthy:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != self.generation or self._clock() - entry.started > self.max_age:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self,
        key: Hashable,
        ticket: Ticket,
        *,
        status: int,
        headers: tuple[tuple[bytes, bytes], ...],
        body: bytes,
    ) -> Entry | None:
        """Store an answer executed under `ticket`; None when it is already outdated."""
        if not self.healthy or ticket.generation != self.generation:
            return None
        size = len(body)
        if size > self.max_bytes // 4:
            return None  # one huge answer must not flush everything else
        self._drop(key)
        entry = Entry(ticket.generation, ticket.started, status, headers, body)
        self._entries[key] = entry
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)
        ENTRIES.set(len(self._entries))
        return entry

    def join(self, key: Hashable) -> asyncio.Future[Entry | None] | None:
        """The answer for `key` being executed under the current generation, to wait for."""
        flight = self._flights.get(key)
        if flight is None or flight[0] != self.generation:
            return None
        return flight[1]

    def lead(self, key: Hashable, ticket: Ticket) -> asyncio.Future[Entry | None]:
        """Announce that `key` is being executed; `land` must follow."""
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._flights[key] = (ticket.generation, future)
        return future

    def land(
        self, key: Hashable, future: asyncio.Future[Entry | None], entry: Entry | None
    ) -> None:
        """Hand the stored answer (None: none) to those waiting for it."""
        flight = self._flights.get(key)
        if flight is not None and flight[1] is future:
            del self._flights[key]
        if not future.done():
            future.set_result(entry)

    def invalidate(self, cause: str) -> None:
        """Data changed (or may have): nothing stored so far, or being executed, is valid."""
        self.generation += 1
        self._entries.clear()
        self._bytes = 0
        ENTRIES.set(0)
        INVALIDATIONS.labels(cause).inc()

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)


class CacheInvalidation:
    """Keeps a ResponseCache in step with the writes of this and every other process."""

    def __init__(self, cache: ResponseCache, redis: Any, *, channels: Channels) -> None:
        self.cache = cache
        self.redis = redis
        # The invalidation channel and the listener's feed doorbell (dpo.channels).
        self.channels = channels
        self._stopping = False
        self.origin = uuid.uuid4().hex  # this process's own messages are not news to it
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        """Subscribe in the background; the cache serves nothing until subscribed."""
        self._task = asyncio.create_task(self._run(), name="response-cache-invalidation")

    async def stop(self) -> None:
        """Stop listening and wait for pending announcements."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            # Bounded: a stop must never hang the process's shutdown.
            await asyncio.wait([self._task], timeout=STOP_SECONDS)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def note_write(self) -> None:
        """A write of this process committed: drop local answers now, tell the others."""
        self.cache.invalidate("local")
        task = asyncio.create_task(
            announce_write(self.redis, channel=self.channels.invalidate, origin=self.origin)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self) -> None:
        failing = False
        while not self._stopping:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as error:
                if not failing:
                    logger.warning(
                        "response cache off: invalidation channel lost (%s)", type(error).__name__
                    )
                failing = True
            self.cache.healthy = False
            self.subscribed.clear()
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(*self.channels.all)
            idle_since = time.monotonic()
            while not self._stopping:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    if time.monotonic() - idle_since > PING_SECONDS:
                        await asyncio.wait_for(pubsub.ping(), PING_SECONDS)
                        idle_since = time.monotonic()
                    continue
                idle_since = time.monotonic()
                self._handle(message)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # (Re)subscribed: writes may have gone unheard before this point.
            self.cache.invalidate("subscribed")
            if message.get("data") == len(self.channels.all):  # both channels confirmed
                self.cache.healthy = True
                self.subscribed.set()
                logger.info("response cache on")
        elif kind == "message":
            data = message.get("data")
            invalidate = self.channels.invalidate
            if message.get("channel") in (invalidate, invalidate.encode()) and (
                data in (self.origin, self.origin.encode())
            ):
                return
            self.cache.invalidate("remote")

"""The per-process hub: one Redis doorbell subscription, one database read per doorbell.

Redis only rings: a message `{"chain_id", "first", "last"}` on the feed channel
(`Channels.feed`, dpo.channels) wakes the hub, which
reads `id > head` from PostgreSQL once and hands the same immutable items to every subscriber
at the head. Nothing depends on the message's content, so a lost message costs latency only: a
safety poll every `poll_interval` seconds reads anyway, and a Redis failure is followed by a
re-subscription with backoff and an immediate catch-up read. A doorbell whose `first` skips
past what the hub has read or been told is counted as a gap (a lost message) and filled here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainEvent
from dpo.services.chain_events import EventFilter
from dpo.streaming import metrics
from dpo.streaming.items import SEEN, FeedItem, FeedMatcher, items_after
from dpo.streaming.status import StatusWatch, is_status_message
from dpo.streaming.subscriber import FeedSubscription

logger = logging.getLogger(__name__)

MAX_BACKOFF = 5.0
# Stopping waits at most this long for the tasks: a cancellation that lands inside redis-py's
# read timeout can be swallowed, and a shutdown must never hang on it.
STOP_SECONDS = 2.0
# Retries of a read that found a hole in the ids before accepting it (never expected).
HOLE_RETRIES = 20


class FeedHub:
    """Fans the feed out to the subscribers of one process."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        redis: Any,
        channel: str,
        poll_interval: float = 2.0,
        page_size: int = 500,
        queue_size: int = 1000,
        slow_after: float = 30.0,
        replay_concurrency: int = 4,
        status: StatusWatch | None = None,
    ) -> None:
        self.sessions = sessions
        # Replaying subscribers read at most this many pages at once, so a crowd resuming
        # together (every client after a restart) queues here, without a deadline, instead of
        # at the connection pool, whose checkout times out and fails the stream.
        self.replay_slots = asyncio.Semaphore(replay_concurrency)
        # The listener's state for `feedStatus` (dpo.streaming.status), rung by the doorbell.
        self.status = status
        self.redis = redis
        self.channel = channel
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.queue_size = queue_size
        self.slow_after = slow_after
        # The highest feed id read; every id up to it is committed and visible.
        self.head = 0
        self._announced = 0
        # (first, last, seen) of recent doorbells that carried `seen`: when the listener saw
        # the head of those ids, attached to the items read for them (metrics only).
        self._seen: deque[tuple[int, int, float]] = deque(maxlen=256)
        self._live: set[FeedSubscription] = set()
        self._all: set[FeedSubscription] = set()
        self._ring = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        """Read the current head and start listening, reading and watching."""
        async with self.sessions() as session:
            self.head = (await session.scalar(select(func.max(ChainEvent.id)))) or 0
        self._announced = self.head
        self._tasks = [
            asyncio.create_task(self._listen(), name="feed-hub-listen"),
            asyncio.create_task(self._read_loop(), name="feed-hub-read"),
            asyncio.create_task(self._watch_stalls(), name="feed-hub-stalls"),
        ]
        if self.status is not None:
            self.status.start()
        # Serve the first subscriber with the doorbell on; without Redis, the poll covers.
        with suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5)

    async def stop(self) -> None:
        """Stop the tasks and close every subscriber's stream."""
        self._stopping = True
        if self.status is not None:
            await self.status.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
        self._tasks = []

    @property
    def subscriber_count(self) -> int:
        """Subscribers of this process, live or replaying."""
        return len(self._all)

    def subscribe(
        self,
        *,
        after: int | None,
        spec: EventFilter | None,
        matcher: FeedMatcher,
        on_slow: Callable[[FeedSubscription], None] | None = None,
    ) -> FeedSubscription:
        """A subscription after the cursor (None: from now on)."""
        return FeedSubscription(
            self,
            after=self.head if after is None else after,
            spec=spec,
            matcher=matcher,
            queue_size=self.queue_size,
            on_slow=on_slow,
        )

    def register(self, subscription: FeedSubscription) -> None:
        """Track a subscription for stall checks."""
        self._all.add(subscription)

    def unregister(self, subscription: FeedSubscription) -> None:
        """Forget a finished subscription."""
        self._all.discard(subscription)
        self._live.discard(subscription)

    def attach(self, subscription: FeedSubscription) -> None:
        """Deliver new items to a subscription that has caught up with the head."""
        self._live.add(subscription)

    def detach(self, subscription: FeedSubscription) -> None:
        """Stop delivering new items to a subscription."""
        self._live.discard(subscription)

    def ring(self) -> None:
        """Wake the reader as a doorbell would."""
        self._ring.set()

    def on_message(self, data: bytes | str) -> None:
        """Handle one doorbell; its content only counts gaps, the rows come from the DB."""
        try:
            message = json.loads(data)
            if is_status_message(message):  # the listener halted or resumed: no feed ids
                if self.status is not None:
                    self.status.ring()
                return
            first, last = int(message["first"]), int(message["last"])
            seen = message.get("seen")
            if type(seen) in (int, float) and math.isfinite(seen) and first <= last:
                self._seen.append((first, last, float(seen)))
        except (ValueError, TypeError, KeyError, AttributeError):
            logger.warning("ignoring a malformed feed doorbell")
            self._ring.set()
            return
        if first > max(self.head, self._announced) + 1:
            metrics.GAPS.inc()
            logger.info(
                "feed doorbell skipped ids %d..%d; reading them from the database",
                max(self.head, self._announced) + 1,
                first - 1,
            )
        self._announced = max(self._announced, last)
        self._ring.set()

    async def _listen(self) -> None:
        backoff, connected_before = 0.1, False
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if connected_before:
                    metrics.REDIS_RECONNECTS.inc()
                    logger.info("re-subscribed to %s; catching up from the database", self.channel)
                connected_before, backoff = True, 0.1
                self.subscribed.set()
                # Anything committed while we were away is read now, not at the next poll.
                self._ring.set()
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.on_message(message["data"])
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                logger.warning(
                    "feed doorbell lost (%s); retrying in %.1fs", type(error).__name__, backoff
                )
            finally:
                with suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _read_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._ring.wait(), self.poll_interval)
                cause = "doorbell"
            except TimeoutError:
                cause = "poll"
            self._ring.clear()
            try:
                await self.catch_up(cause)
            except (SQLAlchemyError, OSError) as error:
                logger.warning("feed read failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(min(self.poll_interval, 1.0))

    async def _read_after(self, head: int) -> list[FeedItem]:
        async with self.sessions() as session:
            return await items_after(session, head, self.page_size)

    async def catch_up(self, cause: str = "doorbell") -> None:
        """Read everything after the head and fan it out, page by page."""
        holes = 0
        while True:
            metrics.HUB_READS.labels(cause=cause).inc()
            items = await self._read_after(self.head)
            batch = _contiguous(items, self.head)
            if len(batch) < len(items):
                holes += 1
                if holes <= HOLE_RETRIES:
                    # Ids are visible in order, so this is a transient read; read again.
                    await asyncio.sleep(0.05)
                    continue
                logger.error(
                    "feed ids %d..%d never became visible; skipping past them",
                    self.head + 1,
                    items[0].id - 1,
                )
                batch = items
            holes = 0
            if batch:
                self.head = batch[-1].id
                self._mark_seen(batch)
                for subscription in list(self._live):
                    subscription.offer(batch)
            if len(items) < self.page_size:
                return

    def _mark_seen(self, batch: Sequence[FeedItem]) -> None:
        """Give the items their head's `seen` from the doorbells that announced them."""
        seen = self._seen
        for item in batch:
            while seen and seen[0][1] < item.id:
                seen.popleft()
            if not seen:
                return
            if seen[0][0] <= item.id:
                item.memo[SEEN] = seen[0][2]

    async def _watch_stalls(self) -> None:
        tick = max(0.05, min(self.slow_after / 4, 1.0))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for subscription in list(self._all):
                if subscription.stalled_for(now) > self.slow_after:
                    logger.info(
                        "closing a subscriber stalled for %.1fs at cursor %d",
                        subscription.stalled_for(now),
                        subscription.delivered,
                    )
                    subscription.close_slow()


def _contiguous(items: list[FeedItem], head: int) -> list[FeedItem]:
    """The leading run of items whose ids follow head without a hole."""
    expected = head + 1
    for index, item in enumerate(items):
        if item.id != expected:
            return items[:index]
        expected += 1
    return items

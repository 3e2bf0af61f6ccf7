"""One subscriber: replay from PostgreSQL after its cursor, then live items from the hub.

The feed sequence is gap-free and becomes visible in order, so "the last id considered + 1" is
always the next id expected. Replay reads pages of `id > position AND id <= bound` with the
subscriber's filter in SQL, where `bound` is an id the hub has already seen committed (so every
id up to it is visible). When the position reaches the hub's head the subscriber attaches to
the hub, in the same step of the event loop, so no batch can fall between replay and live.

Live items come from the hub already read from the database; items at or below the position
are duplicates and dropped, an item beyond position + 1 is a gap and sends the subscriber back
to replay. A full queue drops the live items too and falls back to replay: nothing is lost, the
subscriber just reads them itself, and memory stays at most `queue_size` items per subscriber.
A subscriber that stops consuming altogether is closed by the hub (`slow`).

A transport can take live items without waking the consumer's task (`direct`): while the task
is parked with nothing queued, `offer` hands each matching item to `direct`, which writes its
frame to the socket at once or declines (the socket is backed up, closing, the payload is not
shared); a declined item and every item after it are queued for the task as before, so the
order holds and a backed-up socket meets the same queue limit and stall check as ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainEvent
from dpo.services.chain_events import EventFilter, events_statement
from dpo.streaming import metrics
from dpo.streaming.items import FeedItem, FeedMatcher, item_of

logger = logging.getLogger(__name__)


class SlowConsumerError(Exception):
    """The consumer stopped taking items; it may resume from its last cursor."""

    def __init__(self, position: int) -> None:
        super().__init__(f"slow consumer closed; resume after cursor {position}")
        self.position = position


class Feed(Protocol):
    """What a subscriber needs of the hub that feeds it (dpo.streaming.hub.FeedHub).

    Declared here so the subscriber does not import the hub that creates it.
    """

    sessions: async_sessionmaker[AsyncSession]
    replay_slots: asyncio.Semaphore
    page_size: int
    head: int

    def register(self, subscription: FeedSubscription) -> None:
        """Count a subscription that has started."""

    def unregister(self, subscription: FeedSubscription) -> None:
        """Forget a subscription that has ended."""

    def attach(self, subscription: FeedSubscription) -> None:
        """Start handing the subscription live items."""

    def detach(self, subscription: FeedSubscription) -> None:
        """Stop handing the subscription live items."""


class FeedSubscription:
    """An async iterator of the feed items after a cursor that match a filter."""

    def __init__(
        self,
        hub: Feed,
        *,
        after: int,
        spec: EventFilter | None,
        matcher: FeedMatcher,
        queue_size: int,
        on_slow: Callable[[FeedSubscription], None] | None = None,
    ) -> None:
        self.hub = hub
        self.spec = spec
        self.matcher = matcher
        self.queue_size = queue_size
        self.on_slow = on_slow
        # Every id <= position has been delivered, queued or filtered out.
        self.position = after
        self.delivered = after
        self.live = False
        self.slow = False
        self.pending: deque[FeedItem] = deque()
        self.wake = asyncio.Event()
        # When the last item was handed to the consumer, while it has not asked for the next.
        self.yielded_at: float | None = None
        self._page_left = 0
        # Set by the transport: delivers a live item straight to the socket (True) or declines.
        self.direct: Callable[[FeedItem], bool] | None = None
        # The consumer's task waits for the wake with nothing queued or in its hands.
        self.idle = False

    # Called by the hub, synchronously, in feed order.
    def offer(self, batch: Sequence[FeedItem]) -> None:
        """Take a contiguous batch of new items read by the hub."""
        if not batch or batch[-1].id <= self.position:
            return
        if batch[0].id > self.position + 1:
            self._fall_back("gap")
            return
        pending = self.pending
        direct = self.direct if self.idle and self.live else None
        for item in batch:
            if item.id <= self.position:
                continue
            if self.matcher(item):
                if direct is not None and not pending and direct(item):
                    self.delivered = item.id
                else:
                    if len(pending) >= self.queue_size:
                        metrics.OVERFLOWS.inc()
                        self._fall_back("queue full")
                        return
                    pending.append(item)
            self.position = item.id
        if pending:  # items the direct path took, or none matched: the task sleeps on
            self.wake.set()

    def _fall_back(self, why: str) -> None:
        logger.debug("subscriber after %d falls back to replay: %s", self.position, why)
        self.hub.detach(self)
        self.live = False
        self.wake.set()

    def close_slow(self) -> None:
        """Mark the consumer slow and tell the transport to close it."""
        if self.slow:
            return
        self.slow = True
        metrics.SLOW_CLOSES.inc()
        self.hub.detach(self)
        self.pending.clear()
        self.wake.set()
        if self.on_slow is not None:
            self.on_slow(self)

    def closed(self) -> bool:
        """Whether the subscription was closed as slow."""
        return self.slow

    def stalled_for(self, now: float) -> float:
        """Seconds the consumer has held the last item while more were waiting for it."""
        waiting = self.pending or self._page_left > 0 or self.position < self.hub.head
        if self.yielded_at is None or not waiting:
            return 0.0
        return now - self.yielded_at

    def _hand_over(self, item: FeedItem) -> FeedItem:
        self.delivered = item.id
        self.yielded_at = time.monotonic()
        return item

    async def _replay_page(
        self, sessions: async_sessionmaker[AsyncSession], bound: int
    ) -> list[FeedItem]:
        async with self.hub.replay_slots, sessions() as session:
            query = await events_statement(session, filter=self.spec)
            query = (
                query.where(ChainEvent.id > self.position, ChainEvent.id <= bound)
                .order_by(ChainEvent.id)
                .limit(self.hub.page_size)
            )
            return [item_of(row) for row in (await session.scalars(query)).all()]

    async def items(self) -> AsyncGenerator[FeedItem]:
        """Yield matching items in feed order, each once, until closed."""
        metrics.SUBSCRIPTIONS.inc()
        self.hub.register(self)
        try:
            while not self.slow:
                if not self.live:
                    async for item in self._replay():
                        yield item
                    continue
                if self.pending:
                    yield self._hand_over(self.pending.popleft())
                    self.yielded_at = None
                    continue
                self.wake.clear()
                self.idle = True
                try:
                    await self.wake.wait()
                finally:
                    self.idle = False
            raise SlowConsumerError(self.delivered)
        finally:
            self.hub.unregister(self)
            metrics.SUBSCRIPTIONS.dec()

    async def _replay(self) -> AsyncGenerator[FeedItem]:
        """Read from the database until caught up with the hub, then attach to it."""
        # Items queued before a fall-back are all <= position: deliver them first.
        while self.pending and not self.slow:
            yield self._hand_over(self.pending.popleft())
            self.yielded_at = None
        while not self.slow:
            bound = self.hub.head
            if self.position >= bound:
                self.hub.attach(self)
                self.live = True
                return
            page = await self._replay_page(self.hub.sessions, bound)
            self.position = page[-1].id if len(page) >= self.hub.page_size else bound
            for index, item in enumerate(page):
                if self.closed():
                    return
                self._page_left = len(page) - index - 1
                yield self._hand_over(item)
                self.yielded_at = None
            self._page_left = 0

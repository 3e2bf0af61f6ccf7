"""The one hub of a process: built with its runtime, started on first use, stopped with it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.settings.streaming import StreamingSettings
from dpo.streaming.hub import FeedHub
from dpo.streaming.status import StatusWatch

logger = logging.getLogger(__name__)


class SharedHub:
    """The feed hub every subscription of a process shares (dpo.runtime builds one).

    Nothing is read or polled until the first subscription asks for the hub: a process
    without subscribers (the listener, a job) never starts it.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        redis: Any,
        channel: str,
        chain_id: int,
        knobs: StreamingSettings,
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._channel = channel
        self._chain_id = chain_id
        self._knobs = knobs
        self._hub: FeedHub | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> FeedHub:
        """The hub, started on the first call."""
        if self._hub is not None:
            return self._hub
        async with self._lock:
            if self._hub is None:
                knobs = self._knobs
                hub = FeedHub(
                    sessions=self._sessions,
                    redis=self._redis,
                    channel=self._channel,
                    poll_interval=knobs.feed_poll_interval,
                    page_size=knobs.feed_page_size,
                    queue_size=knobs.subscriber_queue_size,
                    slow_after=knobs.slow_consumer_seconds,
                    replay_concurrency=knobs.feed_replay_concurrency,
                    status=StatusWatch(
                        sessions=self._sessions,
                        chain_id=self._chain_id,
                        poll_interval=knobs.feed_poll_interval,
                    ),
                )
                await hub.start()
                self._hub = hub
                logger.info("feed hub started at feed id %d", hub.head)
        return self._hub

    async def close(self) -> None:
        """Stop the hub, if it was started."""
        hub, self._hub = self._hub, None
        if hub is not None:
            await hub.stop()

"""The one hub of a process, started on first use and stopped with the runtime."""

from __future__ import annotations

import asyncio
import logging

from dpo.runtime import Runtime
from dpo.streaming.config import get_streaming_settings
from dpo.streaming.hub import FeedHub
from dpo.streaming.status import StatusWatch

logger = logging.getLogger(__name__)

_HUBS: dict[int, FeedHub] = {}
_LOCK = asyncio.Lock()


async def get_hub(runtime: Runtime) -> FeedHub:
    """The runtime's hub, started on the first subscription of the process."""
    hub = _HUBS.get(id(runtime))
    if hub is not None:
        return hub
    async with _LOCK:
        hub = _HUBS.get(id(runtime))
        if hub is None:
            knobs = get_streaming_settings()
            hub = FeedHub(sessions=runtime.sessions, redis=runtime.redis,
                          channel=runtime.channels.feed,
                          poll_interval=knobs.feed_poll_interval,
                          page_size=knobs.feed_page_size,
                          queue_size=knobs.subscriber_queue_size,
                          slow_after=knobs.slow_consumer_seconds,
                          replay_concurrency=knobs.feed_replay_concurrency,
                          status=StatusWatch(sessions=runtime.sessions,
                                             chain_id=runtime.settings.chain_id,
                                             poll_interval=knobs.feed_poll_interval))
            await hub.start()
            _HUBS[id(runtime)] = hub
            logger.info("feed hub started at feed id %d", hub.head)
    return hub


async def close_hub(runtime: Runtime) -> None:
    """Stop the runtime's hub, if it was started."""
    hub = _HUBS.pop(id(runtime), None)
    if hub is not None:
        await hub.stop()

"""The Redis channel on which a committed write tells every web replica to drop cached answers.

Writers publish after their transaction commits: the web process after a GraphQL mutation,
jobs and operator commands after theirs. The listener needs no message of its own: each of
its commits already rings the feed doorbell (`Channels.feed`), which the caches hear too.
Publishing never raises: a lost message only leaves answers stale until their maximum age
(RESPONSE_CACHE_MAX_AGE). The channel is `Channels.invalidate` (dpo.channels).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 1.0  # seconds; a hung Redis must not hold a writer


async def announce_write(redis: Any, *, channel: str, origin: str = "") -> None:
    """Tell every response cache that data changed; `origin` lets the sender skip its own.

    `channel` is the deployment's `Channels.invalidate` (dpo.channels), e.g.
    `runtime.channels.invalidate`.
    """
    try:
        await asyncio.wait_for(redis.publish(channel, origin), PUBLISH_TIMEOUT)
    except (RedisError, OSError, TimeoutError) as error:
        logger.warning(
            "cache invalidation not published (answers expire by age): %s", type(error).__name__
        )

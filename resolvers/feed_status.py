"""The chain event feed's state for its consumers: the `feedStatus` subscription and `status.feed`.

A reorg deeper than the listener's window halts the feed until an operator re-syncs it; an
`events` subscriber only sees silence then. `feedStatus` gives the state now and every change
(HALTED at block N and why, LIVE again after the re-sync), from the process's StatusWatch
(dpo.streaming.status), so a thousand subscribers cost one read per change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

import strawberry
from sqlalchemy.exc import SQLAlchemyError

from dpo.health import PROBE_SECONDS
from dpo.streaming import status as feed
from schema.context import Info
from schema.system import FeedStatus

logger = logging.getLogger(__name__)


async def read_feed(info: Info) -> FeedStatus | None:
    """The feed's state now (the `status` query); None when it cannot be read in time."""
    runtime = info.context.runtime
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            status = await feed.read_status(runtime.sessions, runtime.settings.chain_id)
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        logger.warning("feed status unreadable: %s", type(error).__name__)
        return None
    return FeedStatus.from_status(status)


async def subscribe_feed_status(info: Info) -> AsyncGenerator[FeedStatus]:
    """The feed's state now, then each change."""
    hub = await info.context.runtime.feed.get()
    if hub.status is None:  # every hub of the web process has one (dpo.streaming.shared)
        raise RuntimeError("the feed hub has no status watch")
    stream = hub.status.changes()
    try:
        async for status in stream:
            yield FeedStatus.from_status(status)
    finally:
        await stream.aclose()


@strawberry.type
class FeedStatusSubscriptionRoot:
    feed_status: AsyncGenerator[FeedStatus] = strawberry.subscription(
        resolver=subscribe_feed_status,
        description="The chain event feed's state now, then each change: HALTED (at block N, "
        "why) after a reorg deeper than the listener keeps, LIVE again once an "
        "operator re-synced it. Subscribe beside `events`.",
    )

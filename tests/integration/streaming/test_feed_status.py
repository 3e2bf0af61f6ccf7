"""The feed's state for `feedStatus`: a real PostgreSQL checkpoint row and the Redis doorbell."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.streaming.hub import FeedHub
from dpo.streaming.status import FeedState, FeedStatus, StatusWatch
from listener.publish import feed_message
from listener.store import set_halt
from tests.integration.streaming.support import CHAIN

Sessions = async_sessionmaker[AsyncSession]
HASH = "0x" + "ab" * 32
REASON = "chain 42170 reorganised deeper than the kept reorg window: `dpo listener --rewind 7`"


@asynccontextmanager
async def watched(
    sessions: Sessions, redis: aioredis.Redis, channel: str, *, poll_interval: float
) -> AsyncIterator[AsyncGenerator[FeedStatus]]:
    """A running hub with a status watch on CHAIN, and one consumer's stream of changes."""
    watch = StatusWatch(sessions=sessions, chain_id=CHAIN, poll_interval=poll_interval)
    hub = FeedHub(sessions=sessions, redis=redis, channel=channel, status=watch)
    await hub.start()
    await asyncio.wait_for(hub.subscribed.wait(), 10)
    stream = watch.changes()
    try:
        yield stream
    finally:
        await stream.aclose()
        await hub.stop()
    assert watch.watchers == 0


async def checkpoint(sessions: Sessions, block: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO listener_checkpoints (chain_id, last_processed_block, "
                "last_processed_hash) VALUES (:c, :b, :h) ON CONFLICT (chain_id) DO UPDATE SET "
                "last_processed_block = :b"
            ),
            {"c": CHAIN, "b": block, "h": HASH},
        )


async def next_within(stream: AsyncGenerator[FeedStatus], seconds: float = 10) -> FeedStatus:
    return await asyncio.wait_for(anext(stream), seconds)


async def test_halt_and_resumption_reach_a_consumer_by_the_doorbell_alone(
    sessions: Sessions, redis: aioredis.Redis, channel: str
) -> None:
    # A minute between polls: whatever arrives sooner came by the listener's doorbell.
    async with watched(sessions, redis, channel, poll_interval=60) as stream:
        assert (await next_within(stream)).state is FeedState.NOT_STARTED
        await checkpoint(sessions, 12)
        assert await set_halt(sessions, CHAIN, REASON, redis=redis, channel=channel)
        halted = await next_within(stream)
        assert (halted.state, halted.last_block, halted.reason) == (FeedState.HALTED, 12, REASON)
        assert halted.halted_at is not None
        assert "halted at block 12" in halted.message
        # The same halt again changes nothing and announces nothing.
        assert not await set_halt(sessions, CHAIN, REASON, redis=redis, channel=channel)
        await checkpoint(sessions, 7)  # the operator's rewind moves the checkpoint back
        assert await set_halt(sessions, CHAIN, None, redis=redis, channel=channel)
        resumed = await next_within(stream)
        assert (resumed.state, resumed.last_block, resumed.reason) == (FeedState.LIVE, 7, None)
        assert resumed.halted_at is None


async def test_a_moving_checkpoint_is_no_change_and_feed_doorbells_do_not_read_it(
    sessions: Sessions, redis: aioredis.Redis, channel: str
) -> None:
    await checkpoint(sessions, 3)
    async with watched(sessions, redis, channel, poll_interval=0.2) as stream:
        assert (await next_within(stream)).state is FeedState.LIVE
        for block in range(4, 9):
            await checkpoint(sessions, block)
            await redis.publish(
                channel, feed_message(chain_id=CHAIN, first_seq=block, last_seq=block)
            )
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(1)  # five polls
        assert not waiting.done()
        # A halt whose doorbell was lost is found by the poll.
        assert await set_halt(sessions, CHAIN, REASON)
        halted = await asyncio.wait_for(waiting, 10)
        assert (halted.state, halted.last_block) == (FeedState.HALTED, 8)


async def test_a_consumer_that_subscribes_while_halted_is_told_at_once(
    sessions: Sessions, redis: aioredis.Redis, channel: str
) -> None:
    await checkpoint(sessions, 5)
    await set_halt(sessions, CHAIN, REASON)
    async with watched(sessions, redis, channel, poll_interval=60) as stream:
        first = await next_within(stream)
    assert (first.state, first.reason) == (FeedState.HALTED, REASON)

"""Live items handed to a subscription's `direct` writer by the hub, past its task.

The writer stands in for a socket (the e2e tests use real ones): it takes an item or declines
it. Whatever it declines, and everything after, goes through the task, in feed order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import suppress

import redis.asyncio as aioredis

from dpo.services.chain_events import EventFilter
from dpo.streaming.items import FeedItem
from tests.integration.streaming.support import ALICE, BOB, FakeChain
from tests.integration.streaming.test_hub import Sessions, running_hub, subscribe, take


class Writer:
    """Takes items while `open`; records what it took."""

    def __init__(self) -> None:
        self.open = True
        self.taken: list[int] = []

    def __call__(self, item: FeedItem) -> bool:
        if not self.open:
            return False
        self.taken.append(item.id)
        return True


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110 (state the hub changes synchronously)
            await asyncio.sleep(0.01)


async def stop(pending: asyncio.Future[FeedItem], stream: AsyncGenerator[FeedItem]) -> None:
    """Cancel a waiting step of the stream, then close it."""
    pending.cancel()
    with suppress(asyncio.CancelledError):
        await pending
    await stream.aclose()


async def test_an_idle_subscriber_takes_live_items_directly_and_a_declined_one_queues_in_order(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel) as hub:
        subscription = await subscribe(hub)
        writer = Writer()
        subscription.direct = writer
        stream = subscription.items()
        # The task's first step attaches it; it then waits, idle.
        first = asyncio.ensure_future(anext(stream))
        await until(lambda: subscription.idle)
        await chain.emit(3, redis=redis, channel=channel)
        await until(lambda: writer.taken == [1, 2, 3])
        assert not first.done()  # the task was never woken
        assert subscription.delivered == 3

        # The socket backs up: the next items go through the task, in order.
        writer.open = False
        await chain.emit(2, redis=redis, channel=channel)
        got = [await first, *await take(stream, 1)]
        assert [item.id for item in got] == [4, 5]

        # Taking again once the task is idle; nothing is delivered twice.
        writer.open = True
        nxt = asyncio.ensure_future(anext(stream))
        await until(lambda: subscription.idle)
        await chain.emit(2, redis=redis, channel=channel)
        await until(lambda: writer.taken == [1, 2, 3, 6, 7])
        assert not nxt.done()
        await stop(nxt, stream)


async def test_items_declined_midway_keep_their_order_behind_the_first_declined(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel) as hub:
        subscription = await subscribe(hub)
        taken: list[int] = []

        def every_other(item: FeedItem) -> bool:
            if item.id == 2:
                return False  # the socket would wait for this one
            taken.append(item.id)
            return True

        subscription.direct = every_other
        stream = subscription.items()
        first = asyncio.ensure_future(anext(stream))
        await until(lambda: subscription.idle)
        await chain.emit(4, redis=redis, channel=channel)
        got = [await first, *await take(stream, 2)]
        await stream.aclose()
    # 1 went direct; 2 was declined, so 3 and 4 queued behind it instead of overtaking it.
    assert taken == [1]
    assert [item.id for item in got] == [2, 3, 4]


async def test_filters_hold_for_many_direct_subscribers(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel) as hub:
        writers: list[tuple[Writer, str | None]] = []
        streams = []
        for n in range(60):
            wanted = (None, ALICE, BOB)[n % 3]
            spec = None if wanted is None else EventFilter(address=wanted.lower())
            subscription = await subscribe(hub, spec=spec)
            writer = Writer()
            subscription.direct = writer
            stream = subscription.items()
            streams.append((subscription, stream, asyncio.ensure_future(anext(stream))))
            writers.append((writer, wanted))
        await until(lambda: all(s.idle for s, _, _ in streams))
        await chain.emit(2, to=ALICE, redis=redis, channel=channel)
        await chain.emit(3, to=BOB, redis=redis, channel=channel)
        await chain.emit(1, to=ALICE, redis=redis, channel=channel)
        expected = {None: [1, 2, 3, 4, 5, 6], ALICE: [1, 2, 6], BOB: [3, 4, 5]}
        await until(lambda: all(w.taken == expected[wanted] for w, wanted in writers))
        assert not any(pending.done() for _, _, pending in streams)
        for _, stream, pending in streams:
            await stop(pending, stream)

"""The hub and its subscribers on a real PostgreSQL and Redis: exactly once, in feed order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis
from dpo.services.chain_events import EventFilter
from dpo.streaming.hub import FeedHub
from dpo.streaming.items import FeedItem, matcher_for
from dpo.streaming.subscriber import FeedSubscription, SlowConsumerError
from listener.publish import feed_message
from listener.store import revert_to
from tests.integration.streaming.support import ALICE, BOB, CHAIN, OTHER, TOKEN, FakeChain

Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def running_hub(
    sessions: Sessions, redis: Any, channel: str, **options: Any
) -> AsyncIterator[FeedHub]:
    hub = FeedHub(sessions=sessions, redis=redis, channel=channel, **options)
    await hub.start()
    await asyncio.wait_for(hub.subscribed.wait(), 10)
    try:
        yield hub
    finally:
        await hub.stop()


async def subscribe(
    hub: FeedHub, after: int | None = None, spec: EventFilter | None = None, **options: Any
) -> FeedSubscription:
    async with hub.sessions() as session:
        matcher = await matcher_for(session, spec)
    return hub.subscribe(after=after, spec=spec, matcher=matcher, **options)


async def take(stream: AsyncIterator[FeedItem], n: int) -> list[FeedItem]:
    got: list[FeedItem] = []
    async with asyncio.timeout(30):
        while len(got) < n:
            got.append(await anext(stream))
    return got


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_replay_after_a_cursor_then_live_without_gap_or_duplicate(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    await chain.emit(30)
    async with running_hub(sessions, redis, channel, page_size=7) as hub:
        stream = (await subscribe(hub, after=10)).items()
        first = await take(stream, 20)
        await chain.emit(15, redis=redis, channel=channel)
        await chain.emit(5, redis=redis, channel=channel)
        rest = await take(stream, 20)
        await stream.aclose()
    assert [i.id for i in first + rest] == list(range(11, 51))


async def test_lost_doorbells_are_covered_by_the_safety_poll(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel, poll_interval=0.2) as hub:
        stream = (await subscribe(hub)).items()
        await chain.emit(4)  # no doorbell at all
        got = await take(stream, 4)
        await stream.aclose()
    assert [i.id for i in got] == [1, 2, 3, 4]


async def test_a_doorbell_that_skips_ids_counts_a_gap_and_delivers_all(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel, poll_interval=300) as hub:
        stream = (await subscribe(hub)).items()
        before = sample("dpo_feed_doorbell_gaps_total")
        await chain.emit(3)  # its doorbell is lost
        await chain.emit(2, redis=redis, channel=channel)
        got = await take(stream, 5)
        await stream.aclose()
    assert [i.id for i in got] == [1, 2, 3, 4, 5]
    assert sample("dpo_feed_doorbell_gaps_total") == before + 1


async def test_resuming_from_the_last_cursor_across_1000_events_gives_each_once(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    rng = random.Random(5)

    async def produce() -> None:
        for _ in range(40):
            await chain.emit(25, redis=redis, channel=channel)
            await asyncio.sleep(rng.random() / 50)

    received: list[int] = []
    async with running_hub(sessions, redis, channel, page_size=64) as hub:
        producer = asyncio.create_task(produce())
        cursor = 0
        while len(received) < 1000:
            stream = (await subscribe(hub, after=cursor)).items()
            for item in await take(stream, min(rng.randint(1, 97), 1000 - len(received))):
                received.append(item.id)
                cursor = item.id
            await stream.aclose()
        await producer
    assert received == list(range(1, 1001))


async def test_filters_agree_between_replay_and_live(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async def mixed() -> None:
        await chain.emit(2, to=ALICE, redis=redis, channel=channel)
        await chain.emit(2, to=BOB, redis=redis, channel=channel)
        await chain.emit(2, to=BOB, contract=OTHER, redis=redis, channel=channel)
        await chain.emit(1, to=BOB, event="Approval", redis=redis, channel=channel)

    cases = {
        "address": (EventFilter(address=BOB.lower()), [3, 4, 5, 6, 7]),
        "contract": (EventFilter(contract=OTHER.lower()), [5, 6]),
        "event": (EventFilter(event_name="Approval"), [7]),
        "offering": (EventFilter(offering_id=1), [1, 2, 3, 4, 7]),
        "unknown offering": (EventFilter(offering_id=999), []),
        "all of them": (EventFilter(address=BOB, contract=TOKEN, event_name="Transfer"), [3, 4]),
    }
    await mixed()  # history, replayed with the SQL filter
    async with running_hub(sessions, redis, channel) as hub:
        streams = {
            name: (await subscribe(hub, after=0, spec=spec)).items()
            for name, (spec, _) in cases.items()
        }
        replayed = {
            name: [i.id for i in await take(streams[name], len(ids))]
            for name, (_, ids) in cases.items()
        }
        await mixed()  # live, matched in memory
        live = {
            name: [i.id - 7 for i in await take(streams[name], len(ids))]
            for name, (_, ids) in cases.items()
        }
        # A marker after everything: nothing else arrived for any filter in between.
        await chain.emit(1, to=BOB, contract=OTHER, event="Approval", redis=redis, channel=channel)
        marker_only = await take(streams["contract"], 1)
        for stream in streams.values():
            await stream.aclose()
    expected = {name: ids for name, (_, ids) in cases.items()}
    assert replayed == expected
    assert live == expected
    assert [i.id for i in marker_only] == [15]


async def test_a_full_queue_falls_back_to_the_database_and_loses_nothing(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel, queue_size=5, page_size=50) as hub:
        stream = (await subscribe(hub)).items()
        before = sample("dpo_feed_subscriber_overflows_total")
        await chain.emit(200, redis=redis, channel=channel)
        got = await take(stream, 200)
        await chain.emit(3, redis=redis, channel=channel)
        got += await take(stream, 3)
        await stream.aclose()
    assert [i.id for i in got] == list(range(1, 204))
    assert sample("dpo_feed_subscriber_overflows_total") > before


async def test_a_stalled_consumer_is_closed_while_others_go_on(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    closed: list[int] = []
    closed_event = asyncio.Event()

    def on_slow(subscription: FeedSubscription) -> None:
        closed.append(subscription.delivered)
        closed_event.set()

    async with running_hub(sessions, redis, channel, slow_after=0.3) as hub:
        slow = (await subscribe(hub, on_slow=on_slow)).items()
        fast = (await subscribe(hub)).items()
        before = sample("dpo_feed_slow_consumer_closes_total")
        await chain.emit(5, redis=redis, channel=channel)
        assert [i.id for i in await take(slow, 1)] == [1]
        assert [i.id for i in await take(fast, 5)] == [1, 2, 3, 4, 5]
        async with asyncio.timeout(30):
            await closed_event.wait()
        with pytest.raises(SlowConsumerError) as error:
            await anext(slow)
        await chain.emit(2, redis=redis, channel=channel)
        assert [i.id for i in await take(fast, 2)] == [6, 7]
        await fast.aclose()
    assert closed == [1]
    assert error.value.position == 1
    assert sample("dpo_feed_slow_consumer_closes_total") == before + 1


async def test_a_redis_restart_mid_stream_loses_nothing(
    sessions: Sessions, chain: FakeChain, channel: str, tmp_path: Path
) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    client = aioredis.from_url(server.start())
    try:
        # No safety poll within the test: only the doorbell and the reconnect catch-up deliver.
        async with running_hub(sessions, client, channel, poll_interval=300) as hub:
            stream = (await subscribe(hub)).items()
            await chain.emit(5, redis=client, channel=channel)
            got = await take(stream, 5)
            server.stop()
            await chain.emit(5)  # committed while Redis is down: no doorbell
            server = EmbeddedRedis(tmp_path / "redis", server.port)
            server.start()
            got += await take(stream, 5)
            await asyncio.wait_for(hub.subscribed.wait(), 30)
            publisher = aioredis.from_url(server.url)  # the old one's connection died
            await chain.emit(5, redis=publisher, channel=channel)
            await publisher.aclose()
            got += await take(stream, 5)
            await stream.aclose()
    finally:
        await client.aclose()
        server.stop()
    assert [i.id for i in got] == list(range(1, 16))


async def test_reorged_events_arrive_as_removals_in_feed_order(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    await chain.emit(2)
    async with running_hub(sessions, redis, channel) as hub:
        stream = (await subscribe(hub, after=0)).items()
        original = await take(stream, 2)
        await chain.emit(3, redis=redis, channel=channel)  # block 2, about to be orphaned
        live = await take(stream, 3)
        result = await revert_to(sessions, chain_id=CHAIN, ancestor_number=1)
        await redis.publish(
            channel,
            feed_message(
                chain_id=CHAIN, first_seq=result.first_seq or 0, last_seq=result.last_seq or 0
            ),
        )
        removals = await take(stream, 3)
        await stream.aclose()
        # A subscriber resuming before the reorg sees the events and then their removals.
        replayed = await take((await subscribe(hub, after=2)).items(), 6)
    assert [i.id for i in original + live] == [1, 2, 3, 4, 5]
    # Newest first, each pointing at the event it removes, with the same filters' fields.
    assert [(i.id, i.removed, i.removes_id) for i in removals] == [
        (6, True, 5),
        (7, True, 4),
        (8, True, 3),
    ]
    assert {(i.contract_address, i.event_name) for i in removals} == {(TOKEN, "Transfer")}
    assert [i.id for i in replayed] == [3, 4, 5, 6, 7, 8]


async def test_a_crowd_resuming_at_once_reads_through_a_few_connections_and_misses_nothing(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    """Fifty clients resuming together after a restart must not drain the pool (whose
    checkout times out and fails the stream): replay pages queue for a few slots instead."""
    await chain.emit(60)
    engine = sessions.kw["bind"]
    out = {"now": 0, "most": 0}

    def checkout(*_: Any) -> None:
        out["now"] += 1
        out["most"] = max(out["most"], out["now"])

    def checkin(*_: Any) -> None:
        out["now"] -= 1

    async with running_hub(sessions, redis, channel, page_size=5, replay_concurrency=2) as hub:
        streams = [(await subscribe(hub, after=0)).items() for _ in range(50)]
        event.listen(engine.sync_engine.pool, "checkout", checkout)
        event.listen(engine.sync_engine.pool, "checkin", checkin)
        try:
            got = await asyncio.gather(*(take(stream, 60) for stream in streams))
        finally:
            event.remove(engine.sync_engine.pool, "checkout", checkout)
            event.remove(engine.sync_engine.pool, "checkin", checkin)
            for stream in streams:
                await stream.aclose()
    assert all([i.id for i in items] == list(range(1, 61)) for items in got)
    # Two replay slots, plus the hub's own read of the head.
    assert out["most"] <= 3, out

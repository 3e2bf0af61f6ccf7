"""The doorbell's `seen` (when the listener saw the head) reaches the items it announced.

Real PostgreSQL and Redis: the hub attaches `seen` to the items of the doorbell that carried
it, for the frame histogram (`dpo_feed_frame_seconds`); a doorbell without it, or with a
value that is not a finite number, delivers the same items without it.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.streaming.items import SEEN
from listener.publish import feed_message
from tests.integration.streaming.support import CHAIN, FakeChain
from tests.integration.streaming.test_hub import running_hub, subscribe, take

Sessions = async_sessionmaker[AsyncSession]


async def test_the_doorbells_seen_reaches_its_items_and_bad_values_are_ignored(
    sessions: Sessions, chain: FakeChain, redis: aioredis.Redis, channel: str
) -> None:
    async with running_hub(sessions, redis, channel) as hub:
        stream = (await subscribe(hub)).items()
        first, last = await chain.emit(3)
        message = feed_message(chain_id=CHAIN, first_seq=first, last_seq=last, seen_at=1234.5)
        assert json.loads(message)["seen"] == 1234.5
        await redis.publish(channel, message)
        items = await take(stream, 3)
        assert [item.memo.get(SEEN) for item in items] == [1234.5] * 3
        bad: list[Any] = ["soon", True, None, [1], {"at": 1}, "NaN"]
        for value in bad:
            first, last = await chain.emit(1)
            body = json.dumps({"chain_id": CHAIN, "first": first, "last": last, "seen": value})
            await redis.publish(channel, body.replace('"NaN"', "NaN"))
            (item,) = await take(stream, 1)
            assert SEEN not in item.memo, value
        # A doorbell whose range is reversed or not numbers rings the hub and carries nothing.
        first, last = await chain.emit(1)
        await redis.publish(
            channel, json.dumps({"chain_id": CHAIN, "first": last, "last": "x", "seen": 5.0})
        )
        (item,) = await take(stream, 1)
        assert SEEN not in item.memo
        await stream.aclose()

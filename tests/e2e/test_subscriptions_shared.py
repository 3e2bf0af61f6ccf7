"""Subscribers of one operation share its execution per feed item, over real sockets."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import redis.asyncio as aioredis

from dpo.auth.principal import Kind, Principal
from tests.e2e.conftest import web_server
from tests.e2e.feed_sockets import metrics, subscribed, subscriber
from tests.e2e.test_subscriptions import (
    Sessions,
    feed_db,  # noqa: F401  (fixture)
    redis,  # noqa: F401  (fixture)
    server_env,
)
from tests.integration.streaming.support import ALICE, BOB, FakeChain
from tests.integration.streaming.wsclient import (
    EVENTS,
    LEGACY_WS,
    GraphQLSocket,
)

OPS = Principal(kind=Kind.STAFF, role="ops", user_id=2)
# Another admin: permissions look at the role, not at who it is, so it shares with ADMIN.
OTHER_ADMIN = Principal(kind=Kind.STAFF, role="admin", user_id=3)


async def messages(sock: GraphQLSocket, n: int) -> list[dict[str, Any]]:
    return [await sock.receive() for _ in range(n)]


async def test_subscribers_of_one_operation_share_one_execution_per_item_and_keep_their_own(
    feed_db: tuple[str, Sessions],  # noqa: F811
    redis_url: str,
    redis: aioredis.Redis,  # noqa: F811
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    bob = {"filter": {"address": BOB}}
    async with AsyncExitStack() as stack:
        base = stack.enter_context(web_server(server_env(url, redis_url)))
        # Group A: one operation, scope "admin" - six sockets, one of them with two
        # operations, one on the legacy protocol, one of another admin user.
        same = [await subscriber(stack, base, f"a{index}") for index in range(4)]
        same.append(await subscriber(stack, base, "a4", protocol=LEGACY_WS))
        same.append(await subscriber(stack, base, "a5", principal=OTHER_ADMIN))
        await same[0].subscribe("a0-again", EVENTS)
        # Group B: a filter, i.e. other arguments of the root field: fewer items, each with
        # the same payload as group A's.
        filtered = [await subscriber(stack, base, f"b{index}", variables=bob) for index in range(2)]
        # Group C: the same operation in another permission scope.
        other_scope = [
            await subscriber(stack, base, f"c{index}", principal=OPS) for index in range(2)
        ]
        before = await subscribed(base, 11)

        await chain.emit(3, to=ALICE, redis=redis)
        await chain.emit(2, to=BOB, redis=redis)
        got_same = [await messages(sock, 10 if i == 0 else 5) for i, sock in enumerate(same)]
        got_filtered = [await messages(sock, 2) for sock in filtered]
        got_other = [await messages(sock, 5) for sock in other_scope]
        after = await metrics(base)

    # Each subscriber gets its own operation id on identical, correct frames.
    first = got_same[0]
    assert sorted({m["id"] for m in first}) == ["a0", "a0-again"]
    assert [m["payload"] for m in first if m["id"] == "a0"] == [
        m["payload"] for m in first if m["id"] == "a0-again"
    ]
    payloads = [m["payload"] for m in first if m["id"] == "a0"]
    for index, got in enumerate(got_same[1:], start=1):
        assert {m["id"] for m in got} == {f"a{index}"}
        assert [m["payload"] for m in got] == payloads
    assert {m["type"] for m in got_same[4]} == {"data"}  # legacy graphql-ws
    assert {m["type"] for got in got_same[:4] + got_same[5:] for m in got} == {"next"}
    edges = [p["data"]["events"] for p in payloads]
    assert [int(e["cursor"]) for e in edges] == [1, 2, 3, 4, 5]
    assert [e["node"]["args"]["to"] for e in edges] == [ALICE] * 3 + [BOB] * 2
    # A filter's subscribers get only their items; another scope the same content.
    for index, got in enumerate(got_filtered):
        assert {m["id"] for m in got} == {f"b{index}"}
        assert [m["payload"] for m in got] == payloads[3:]
    for index, got in enumerate(got_other):
        assert {m["id"] for m in got} == {f"c{index}"}
        assert [m["payload"] for m in got] == payloads

    # One execution per (operation, payload variables, scope) and item; the rest reused.
    executions = after["dpo_feed_frame_executions_total"] - before.get(
        "dpo_feed_frame_executions_total", 0
    )
    shared = after["dpo_feed_shared_frames_total"] - before.get("dpo_feed_shared_frames_total", 0)
    assert executions == 5 + 5
    assert shared == (7 - 1) * 5 + 2 * 2 + (2 - 1) * 5

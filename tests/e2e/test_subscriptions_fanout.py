"""The hub's fan-out writes live frames itself (schema.direct_frames), over real sockets.

Byte for byte the frames Strawberry's handlers send, on both protocols, in feed order, each
subscriber's filter applied; a stalled socket is cut while the others get every frame; the
npm graphql-ws client reads them as it reads any other.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.e2e.conftest import web_server
from tests.e2e.feed_sockets import metrics, subscribed, subscriber
from tests.e2e.test_clients import CLIENTS, node
from tests.e2e.test_subscriptions import (
    ADMIN,
    Sessions,
    cursors,
    feed_db,  # noqa: F401  (fixture)
    frames,
    redis,  # noqa: F401  (fixture)
    server_env,
    token,
)
from tests.e2e.test_subscriptions_direct import raw_frames, strawberry_frame
from tests.e2e.test_subscriptions_slow import StalledClient, metric, metrics_when
from tests.integration.streaming.support import ALICE, BOB, FakeChain
from tests.integration.streaming.wsclient import (
    EVENTS,
    LEGACY_WS,
    TRANSPORT_WS,
)

pytestmark = pytest.mark.timeout(240)

FANOUT = "dpo_feed_fanout_frames_total"
EXECUTIONS = "dpo_feed_frame_executions_total"
CURSORS_ONLY = "subscription { events { cursor } }"


async def test_fanout_frames_are_byte_exact_ordered_and_filtered_for_many_subscribers(
    feed_db: tuple[str, Sessions],  # noqa: F811
    redis_url: str,
    redis: aioredis.Redis,  # noqa: F811
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    # (protocol, document, filter): two shapes, both protocols, and a filter on the holder.
    plan = (
        [(TRANSPORT_WS, EVENTS, None)] * 8
        + [(LEGACY_WS, EVENTS, None)] * 8
        + [(TRANSPORT_WS, EVENTS, BOB)] * 4
        + [(LEGACY_WS, EVENTS, BOB)] * 2
        + [(TRANSPORT_WS, CURSORS_ONLY, None)] * 4
    )
    targets = [ALICE if k % 2 else BOB for k in range(1, 7)]  # items 1..6

    def wanted(holder: str | None) -> list[int]:
        return [k for k, to in enumerate(targets, 1) if holder is None or to == holder]

    async with AsyncExitStack() as stack:
        caps = {"WS_MAX_CONNECTIONS_PER_USER": "100", "WS_MAX_CONNECTIONS_PER_ADDRESS": "100"}
        base = stack.enter_context(web_server(server_env(url, redis_url, **caps)))
        sockets = [
            await subscriber(
                stack,
                base,
                f"op-{index}",
                document,
                protocol=protocol,
                variables=None if holder is None else {"filter": {"address": holder}},
            )
            for index, (protocol, document, holder) in enumerate(plan)
        ]
        before = await subscribed(base, len(sockets))
        got: list[list[str]] = [[] for _ in sockets]
        for k, to in enumerate(targets, 1):
            await chain.emit(1, to=to, redis=redis)
            # Each subscriber has its frame (so its task is idle again) before the next item.
            for index, (_, _, holder) in enumerate(plan):
                if k in wanted(holder):
                    got[index] += await raw_frames(sockets[index], 1)
        after = await metrics(base)

    full = {
        int(data["events"]["cursor"]): data
        for data in (json.loads(frame)["payload"]["data"] for frame in got[0])
    }
    assert sorted(full) == [1, 2, 3, 4, 5, 6]
    assert [full[k]["events"]["node"]["args"]["to"] for k in range(1, 7)] == targets
    for index, (protocol, document, holder) in enumerate(plan):
        expected = [
            full[k] if document == EVENTS else {"events": {"cursor": str(k)}}
            for k in wanted(holder)
        ]
        # In feed order, filtered, each frame the exact text of Strawberry's message.
        assert got[index] == [strawberry_frame(protocol, f"op-{index}", d) for d in expected]
    # Each item executed once per shape (2 shapes x 6 items), whatever the subscribers count.
    assert after[EXECUTIONS] - before[EXECUTIONS] == 12
    # Item 1 goes through every task (no subscription has executed anything yet: the first
    # one's task executes it, binding its executor); later frames through the fan-out, the
    # filtered subscribers' first one included (item 2 was executed by then). Not exactly
    # all of them: a task that wrote the previous frame may not be parked again yet when
    # the next item comes (a busy machine), and then that frame rightly takes the task.
    fanned = after[FANOUT] - before[FANOUT]
    assert 20 * 5 + 6 * 3 >= fanned >= (20 * 5 + 6 * 3) // 2, fanned
    # One observation per frame, whichever path wrote it: the insert-to-frame histogram for
    # every frame, the seen-to-frame one for the frames of items read on their doorbell.
    frames_sent = 20 * 6 + 6 * 3

    def observed(name: str) -> float:
        return after[f"{name}_count"] - before[f"{name}_count"]

    assert observed("dpo_feed_delivery_seconds") == frames_sent
    assert 0 < observed("dpo_feed_frame_seconds") <= frames_sent


async def test_a_stalled_live_socket_is_cut_while_many_others_get_every_frame(
    feed_db: tuple[str, Sessions],  # noqa: F811
    redis_url: str,
    redis: aioredis.Redis,  # noqa: F811
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    env = server_env(
        url, redis_url, SUBSCRIBER_QUEUE_SIZE="50", SLOW_CONSUMER_SECONDS="3", WS_CLOSE_TIMEOUT="1"
    )
    readers = 6
    with web_server(env) as base:
        stalled = StalledClient(base)  # live from cursor 0, like the others; never reads
        try:
            await asyncio.to_thread(stalled.subscribe)
            async with AsyncExitStack() as stack:
                fast = [await subscriber(stack, base, "f") for _ in range(readers)]
                before = await subscribed(base, readers + 1)
                # One small item first: every subscription's first frame binds its executor.
                await chain.emit(1, redis=redis)
                got = [cursors(await frames(sock, "f", 1)) for sock in fast]
                # ~6 MB of incompressible frames: far more than the stalled peer's window and
                # the server's buffers, so its socket backs up and the fan-out skips it.
                for _ in range(15):
                    await chain.emit(50, memo=secrets.token_hex(4096), redis=redis)
                    for n, sock in enumerate(fast):
                        got[n] += cursors(await frames(sock, "f", 50))
                text = await metrics_when(
                    base,
                    lambda t: (
                        metric(t, "dpo_feed_slow_consumer_closes_total") >= 1
                        and metric(t, "dpo_ws_connections") == readers
                        and metric(t, "dpo_feed_subscriptions") == readers
                    ),
                )
                how = await asyncio.to_thread(stalled.wait_cut_off)
                await chain.emit(2, redis=redis)
                for n, sock in enumerate(fast):
                    got[n] += cursors(await frames(sock, "f", 2))
        finally:
            stalled.close()
    assert got == [list(range(1, 754))] * readers
    assert metric(text, "dpo_feed_slow_consumer_closes_total") == 1
    assert metric(text, FANOUT) > before[FANOUT]
    assert how in ("eof", "reset")


async def test_the_npm_graphql_ws_client_reads_fanout_frames(
    feed_db: tuple[str, Sessions],  # noqa: F811
    redis_url: str,
    redis: aioredis.Redis,  # noqa: F811
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    clients, items = 5, 6
    with web_server(server_env(url, redis_url)) as base:
        before = await metrics(base)
        process = await asyncio.create_subprocess_exec(
            node(),
            "feed-subscribers.mjs",
            base.replace("http://", "ws://") + "/graphql",
            token(ADMIN),
            str(clients),
            str(items),
            cwd=CLIENTS,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            await subscribed(base, clients)
            for k in range(items):
                await chain.emit(1, to=(ALICE, BOB)[k % 2], redis=redis)
                await asyncio.sleep(0.3)  # the clients' tasks idle again between items
            async with asyncio.timeout(120):
                out, err = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        after = await metrics(base)
    assert process.returncode == 0, err.decode()[-3000:]
    lines = [json.loads(line) for line in out.decode().splitlines()]
    per: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        assert "errors" not in line["result"], line
        per.setdefault(line["client"], []).append(line["result"]["data"]["events"])
    assert sorted(per) == list(range(clients))
    first = per[0]
    assert [int(event["cursor"]) for event in first] == list(range(1, items + 1))
    assert [event["node"]["args"]["to"] for event in first] == [ALICE, BOB] * (items // 2)
    assert all(events == first for events in per.values())
    assert after[FANOUT] > before[FANOUT]

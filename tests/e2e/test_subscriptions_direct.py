"""Shared frames go straight to the socket, byte for byte what Strawberry would send."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

import redis.asyncio as aioredis

from tests.e2e.conftest import web_server
from tests.e2e.feed_sockets import metrics, subscribed, subscriber
from tests.e2e.test_subscriptions import (
    Sessions,
    feed_db,  # noqa: F401  (fixture)
    redis,  # noqa: F401  (fixture)
    server_env,
)
from tests.integration.streaming.support import ALICE, FakeChain
from tests.integration.streaming.wsclient import (
    LEGACY_WS,
    TRANSPORT_WS,
    GraphQLSocket,
)

DIRECT = "dpo_ws_direct_frames_total"
FANOUT = "dpo_feed_fanout_frames_total"


async def raw_frames(sock: GraphQLSocket, n: int) -> list[str]:
    """The next n frames as the text the server sent, keep-alives left out."""
    frames: list[str] = []
    async with asyncio.timeout(90):
        while len(frames) < n:
            text = await sock.ws.recv()
            assert isinstance(text, str)
            if json.loads(text).get("type") not in ("ka", "ping", "pong"):
                frames.append(text)
    return frames


def strawberry_frame(protocol: str, op_id: str, data: Any) -> str:
    """The frame as Strawberry's handlers build and json.dumps it (compact separators)."""
    if protocol == TRANSPORT_WS:
        message: dict[str, Any] = {"id": op_id, "type": "next", "payload": {"data": data}}
    else:
        message = {"type": "data", "id": op_id, "payload": {"data": data}}
    return json.dumps(message, separators=(",", ":"))


async def test_shared_frames_are_written_directly_and_byte_exact_on_both_protocols(
    feed_db: tuple[str, Sessions],  # noqa: F811
    redis_url: str,
    redis: aioredis.Redis,  # noqa: F811
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    protocols = (TRANSPORT_WS, TRANSPORT_WS, LEGACY_WS, LEGACY_WS)
    async with AsyncExitStack() as stack:
        base = stack.enter_context(web_server(server_env(url, redis_url)))
        sockets = [
            await subscriber(stack, base, f"op-{index}", protocol=protocol)
            for index, protocol in enumerate(protocols)
        ]
        before = await subscribed(base, len(sockets))

        await chain.emit(3, to=ALICE, redis=redis)
        got = [await raw_frames(sock, 3) for sock in sockets]
        # A client's complete (stop) ends delivery to that operation.
        await sockets[1].stop("op-1")
        await sockets[3].stop("op-3")
        await subscribed(base, 2)
        await chain.emit(1, to=ALICE, redis=redis)
        last = [await raw_frames(sockets[0], 1), await raw_frames(sockets[2], 1)]
        after = await metrics(base)

    datas = [json.loads(frame)["payload"]["data"] for frame in got[0]]
    assert [int(d["events"]["cursor"]) for d in datas] == [1, 2, 3]
    assert [d["events"]["node"]["args"]["to"] for d in datas] == [ALICE] * 3
    for index, (protocol, frames) in enumerate(zip(protocols, got, strict=True)):
        assert frames == [strawberry_frame(protocol, f"op-{index}", data) for data in datas]
    fourth = json.loads(last[0][0])["payload"]["data"]
    assert fourth["events"]["cursor"] == "4"
    assert last == [
        [strawberry_frame(TRANSPORT_WS, "op-0", fourth)],
        [strawberry_frame(LEGACY_WS, "op-2", fourth)],
    ]

    def delta(protocol: str) -> float:
        series = f'{DIRECT}{{protocol="{protocol}"}}'
        return after.get(series, 0) - before.get(series, 0)

    # Each item is executed once for the four (one shape); every later frame of it is the
    # shared text. A subscription's first item goes through its task (which binds its
    # executor); the fourth item, sent to two idle subscriptions, is written by the hub's
    # fan-out itself (schema.direct_frames), past every task, for both protocols.
    assert after["dpo_feed_frame_executions_total"] - before["dpo_feed_frame_executions_total"] == 4
    assert after[FANOUT] - before.get(FANOUT, 0) == 2
    assert delta(TRANSPORT_WS) >= 1
    assert delta(LEGACY_WS) >= 1

"""bench/latency.py's per-sample timeline: where a frame's milliseconds go before and after the
listener sees the head.

The histograms (latency_parts.STAGES) start at the listener's "head seen"; what comes before
it (anvil mining, the newHeads push, the listener reading it) is only in the end-to-end figure.
While the rounds run, the bench itself is a second newHeads subscriber of anvil and a
subscriber of every side's Redis doorbell, so each frame's time splits into:

- `mined`: the send to `eth_sendTransaction`'s answer (automine mines within the call);
- `pushed`: the send to the newHeads push arriving at the bench's own socket (anvil's share:
  mining, then the push; the bench reads nothing else on that socket);
- `seen`: the send to the listener seeing that head (the doorbell's `"seen"`,
  listener/publish.py): `pushed` plus the listener's reading of its own socket;
- `to_frame`: the listener seeing the head to the frame arriving at the subscriber.

All are wall-clock times of one machine (time.time()).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from websockets.asyncio.client import connect

SPLITS = ("mined", "pushed", "seen", "to_frame")


@dataclass
class Timeline:
    """Arrival times by block (pushes) and by side and feed id (the doorbell's `seen`)."""

    pushed: dict[int, float] = field(default_factory=dict)
    seen: dict[str, dict[int, float]] = field(default_factory=dict)
    returned: dict[int, float] = field(default_factory=dict)

    def splits(
        self,
        side: str,
        sent: dict[int, float],
        blocks: dict[int, int],
        frames: list[tuple[int, float]],
    ) -> dict[str, list[float]]:
        """Per frame (feed id, arrival) of `side`: the seconds of each split (SPLITS)."""
        out: dict[str, list[float]] = {name: [] for name in SPLITS}
        seen = self.seen.get(side, {})
        for cursor, at in frames:
            block = blocks.get(cursor)
            if block is None or block not in sent:
                continue
            start = sent[block]
            if block in self.returned:
                out["mined"].append(self.returned[block] - start)
            if block in self.pushed:
                out["pushed"].append(self.pushed[block] - start)
            if cursor in seen:
                out["seen"].append(seen[cursor] - start)
                out["to_frame"].append(at - seen[cursor])
        return out


async def _heads(url: str, timeline: Timeline, ready: asyncio.Event) -> None:
    async with connect(url, max_size=2**22) as socket:
        request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
        await socket.send(json.dumps(request))
        await socket.recv()  # the subscription's id
        ready.set()
        async for message in socket:
            at = time.time()
            result = json.loads(message).get("params", {}).get("result")
            if isinstance(result, dict) and "number" in result:
                timeline.pushed.setdefault(int(result["number"], 16), at)


async def _doorbells(
    redis_url: str, channels: dict[str, str], timeline: Timeline, ready: asyncio.Event
) -> None:
    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub()
    confirmed = 0
    try:
        await pubsub.subscribe(*channels)
        async for message in pubsub.listen():
            if message.get("type") == "subscribe":
                confirmed += 1
                if confirmed == len(channels):
                    ready.set()
            if message.get("type") != "message":
                continue
            side = channels[message["channel"].decode()]
            body: dict[str, Any] = json.loads(message["data"])
            if "seen" in body and "first" in body:
                ids = range(int(body["first"]), int(body["last"]) + 1)
                timeline.seen.setdefault(side, {}).update(dict.fromkeys(ids, float(body["seen"])))
    finally:
        await pubsub.aclose()
        await client.aclose()


@contextlib.asynccontextmanager
async def tracing(ws_url: str, redis_url: str, channels: dict[str, str]) -> AsyncIterator[Timeline]:
    """Record pushes and doorbells (channel -> side name) while the body runs."""
    timeline = Timeline()
    ready = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(_heads(ws_url, timeline, ready[0])),
        asyncio.create_task(_doorbells(redis_url, channels, timeline, ready[1])),
    ]
    async with asyncio.timeout(30):  # both subscribed before the first send
        await asyncio.gather(*(event.wait() for event in ready))
    try:
        yield timeline
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

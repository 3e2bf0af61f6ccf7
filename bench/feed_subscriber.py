"""A WebSocket subscriber of `events` that resumes by cursor, for bench/chaos_web.py.

It speaks graphql-transport-ws with the `websockets` client (as wsclient does), starts from
cursor 0, checks that every item is the next feed id (a skip is counted lost, a repeat
duplicated), rebuilds the live events (adds items, removes the item a `removesSequence`
names) and, when its socket drops, subscribes again after its last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

EVENTS = (
    "subscription($after: String) { events(after: $after) { cursor node { sequence "
    "removesSequence } } }"
)


@dataclass
class Subscriber:
    """One client's view of the feed, rebuilt from what it received."""

    cursor: int = 0
    live: set[int] = field(default_factory=set)
    deliveries: int = 0
    lost: int = 0
    duplicated: int = 0
    connections: int = 0
    connected: bool = False
    errors: list[str] = field(default_factory=list)

    def take(self, sequence: int, removes: int | None) -> None:
        if sequence <= self.cursor:
            self.duplicated += 1
            return
        self.lost += sequence - self.cursor - 1
        self.cursor = sequence
        self.deliveries += 1
        if removes is None:
            self.live.add(sequence)
        else:
            self.live.discard(removes)


async def follow(sub: Subscriber, url: str, token: str, rng: random.Random) -> None:
    """Subscribe after the last cursor; again after every drop, until cancelled."""
    while True:
        with contextlib.suppress(OSError, WebSocketException, TimeoutError):
            async with ws_connect(
                url,
                subprotocols=[Subprotocol("graphql-transport-ws")],
                open_timeout=10,
                close_timeout=1,
                compression=None,
            ) as ws:
                sub.connections += 1
                await ws.send(
                    json.dumps(
                        {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                    )
                )
                async with asyncio.timeout(30):
                    ack = json.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    sub.errors.append(f"init: {ack}")
                    continue
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": EVENTS, "variables": {"after": str(sub.cursor)}},
                        }
                    )
                )
                sub.connected = True
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    elif message.get("type") == "next" and not message["payload"].get("errors"):
                        node = message["payload"]["data"]["events"]["node"]
                        removes = node["removesSequence"]
                        sub.take(int(node["sequence"]), None if removes is None else int(removes))
                    elif message.get("type") in ("next", "error", "complete"):
                        sub.errors.append(json.dumps(message)[:300])
                        break
        sub.connected = False
        await asyncio.sleep(rng.uniform(0.1, 0.5))

"""Cheap graphql-transport-ws subscribers for load generation: one asyncio protocol per socket.

A general WebSocket client costs tens of microseconds of Python per received frame, which on
a 2-core machine competes with the server it measures. Here the frames the server sends
(unmasked, unfragmented, no extensions negotiated) are cut out of the byte stream in place,
and only `next` messages are parsed (orjson). Pings are answered; client frames are masked as
RFC 6455 requires.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    key = os.urandom(4)
    stream = (key * (size // 4 + 1))[:size]
    masked = (
        (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
        if size
        else b""
    )
    return header + key + masked


class Subscriber(asyncio.Protocol):
    """One socket: handshake, connection_init, one subscription; calls `on_frame` per item."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        query: str,
        expect: int,
        on_subscribed: Callable[[bool], None],
        on_frame: Callable[[int, float], None],
    ) -> None:
        parts = urlsplit(url)
        self.host, self.path = parts.netloc, parts.path or "/"
        self.token, self.query, self.expect = token, query, expect
        self.on_subscribed, self.on_frame = on_subscribed, on_frame
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.subscribed = False
        self.got = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )

    def send(self, message: dict[str, object], opcode: int = TEXT) -> None:
        """Send one JSON message."""
        assert self.transport is not None
        self.transport.write(client_frame(opcode, orjson.dumps(message)))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {bytes(buffer[:end]).decode(errors='replace')}")
                return
            del buffer[: end + 4]
            self.upgraded = True
            self.send({"type": "connection_init", "payload": {"token": self.token}})
        while len(buffer) >= 2:
            opcode, size, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            self._frame(opcode, payload, now)

    def _frame(self, opcode: int, payload: bytes, now: float) -> None:
        assert self.transport is not None
        if opcode == TEXT:
            message = orjson.loads(payload)
            kind = message.get("type")
            if kind == "next":
                self.on_frame(int(message["payload"]["data"]["events"]["cursor"]), now)
                self.got += 1
                if self.got >= self.expect and not self.done.done():
                    self.done.set_result(None)
            elif kind == "connection_ack":
                self.send({"id": "1", "type": "subscribe", "payload": {"query": self.query}})
                self.subscribed = True
                self.on_subscribed(True)
            elif kind in ("error", "complete"):
                self._fail(f"subscription ended: {message}")
        elif opcode == PING:
            self.transport.write(client_frame(PONG, payload))
        elif opcode == CLOSE:
            self._fail(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")

    def _fail(self, why: str) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed:
            self.on_subscribed(False)
            self.subscribed = True  # reported once
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost: {exc}"))

    def close(self) -> None:
        """Drop the socket (a subscriber still waiting is no failure: the run is over)."""
        self.done.cancel()
        if self.transport is not None:
            self.transport.close()


def _same(subscriber: Subscriber) -> Subscriber:
    return subscriber


async def subscribe_all(
    url: str,
    *,
    token: str,
    query: str,
    count: int,
    expect: int,
    on_ready: Callable[[int], None],
    deadline: float,
    before_close: Callable[[list[tuple[int, float]]], None] | None = None,
    wave: int = 200,
    pause: float = 0.5,
) -> list[tuple[int, float]]:
    """Connect `count` subscribers in waves; their (cursor, receipt time) until `deadline`.

    `before_close` gets them while every socket is still open.
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    received: list[tuple[int, float]] = []
    outcomes: list[bool] = []

    def subscribed(ok: bool) -> None:
        outcomes.append(ok)
        if len(outcomes) == count:
            on_ready(sum(outcomes))

    def frame(cursor: int, when: float) -> None:
        received.append((cursor, when))

    subscribers: list[Subscriber] = []
    for start in range(0, count, wave):
        for _ in range(min(wave, count - start)):
            subscriber = Subscriber(
                url,
                token=token,
                query=query,
                expect=expect,
                on_subscribed=subscribed,
                on_frame=frame,
            )
            try:
                await loop.create_connection(partial(_same, subscriber), host, port)
            except OSError:
                subscriber.connection_lost(None)
            subscribers.append(subscriber)
        await asyncio.sleep(pause)
    waiting = [s.done for s in subscribers]
    finished, _ = await asyncio.wait(waiting, timeout=max(0.0, deadline - time.time()))
    failures = [f.exception() for f in finished if f.exception() is not None]
    if failures:
        print(f"{len(failures)} subscribers failed, e.g. {failures[0]}")
    if before_close is not None:
        before_close(received)
    for subscriber in subscribers:
        subscriber.close()
    return received


def subscriber_process(
    base: str,
    token: str,
    query: str,
    count: int,
    expect: int,
    ready: Any,
    results: Any,
    deadline: float,
    release: Any = None,
) -> None:
    """A load-generator process: `count` sockets on `base` until each has `expect` frames or
    `deadline` (bench/latency.py, bench/fanout.py; their queues and event are multiprocessing's).

    Puts the number subscribed on `ready`; at the end, while every socket is still open, puts
    (base, [(cursor, arrival time)], its CPU seconds since subscribing) on `results`; then, with
    a `release` event, keeps them open until it is set (120 s at most), so that their closing
    is not counted as the server's delivery work.
    """
    subscribed_at = [0.0]

    def subscribed(connected: int) -> None:
        subscribed_at[0] = time.process_time()  # CPU from here on is the frames'
        ready.put(connected)

    def report(received: list[tuple[int, float]]) -> None:
        results.put((base, received, time.process_time() - subscribed_at[0]))
        if release is not None:
            release.wait(120)

    asyncio.run(
        subscribe_all(
            base.replace("http://", "ws://") + "/graphql",
            token=token,
            query=query,
            count=count,
            expect=expect,
            on_ready=subscribed,
            deadline=deadline,
            before_close=report,
        )
    )

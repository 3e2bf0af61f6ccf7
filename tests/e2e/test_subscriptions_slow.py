"""A consumer that stops reading, over a real socket: it is cut off, the others go on."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from tests.e2e import test_subscriptions as subscriptions
from tests.e2e.conftest import web_server
from tests.e2e.test_subscriptions import Sessions, bearer, cursors, frames, server_env, signed_in
from tests.integration.streaming.support import FakeChain
from tests.integration.streaming.wsclient import EVENTS, TRANSPORT_WS, open_socket

pytestmark = pytest.mark.timeout(240)

WAIT = 60.0
feed_db = subscriptions.feed_db
redis = subscriptions.redis


class StalledClient:
    """A raw socket that signs in, subscribes to the feed from 0, and then never reads."""

    def __init__(self, base: str) -> None:
        url = base.replace("http://", "ws://") + "/graphql"
        uri = parse_uri(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small window: the server's writes back up into its own buffers quickly.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(WAIT)
        self.sock.connect((uri.host, uri.port))
        self.protocol = ClientProtocol(uri, subprotocols=[Subprotocol(TRANSPORT_WS)])
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def _send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def _next(self) -> Response | dict[str, Any]:
        """The handshake's response or the next text message."""
        while True:
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    return event
                if isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                    message: dict[str, Any] = json.loads(bytes(event.data))
                    return message
            self.protocol.receive_data(self.sock.recv(65536))

    def subscribe(self) -> None:
        """connection_init, its ack, then one subscription; nothing is read after this."""
        response = self._next()
        assert isinstance(response, Response), response
        assert response.status_code == 101, response
        self._send({"type": "connection_init", "payload": bearer()})
        ack = self._next()
        assert isinstance(ack, dict), ack
        assert ack["type"] == "connection_ack", ack
        self._send(
            {
                "id": "s",
                "type": "subscribe",
                "payload": {"query": EVENTS, "variables": {"after": "0"}},
            }
        )

    def wait_cut_off(self) -> str:
        """Read (finally) until the server's end is gone: 'eof' or 'reset'."""
        deadline = time.monotonic() + WAIT
        self.sock.settimeout(1.0)
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(1 << 20):
                    return "eof"
            except ConnectionResetError:
                return "reset"
            except TimeoutError:
                continue
        raise AssertionError("the server never cut the stalled connection")

    def close(self) -> None:
        self.sock.close()


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{name} is not exported"
    return float(found.group(1))


async def metrics_when(base: str, ok: Any) -> str:
    """/metrics once `ok(text)` holds; fails after WAIT seconds."""
    async with httpx.AsyncClient(base_url=base) as http:
        deadline = time.monotonic() + WAIT
        while True:
            text = (await http.get("/metrics")).text
            if ok(text):
                return text
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.2)


async def test_a_consumer_that_stops_reading_is_cut_off_while_others_go_on(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    # The stalled peer never reads, so any allowance cuts it off; the reading one must only
    # never fall that far behind. 3 s and 50 frames leave a busy test machine room for that
    # (at 1 s and 10 frames a parallel run's load made the reading client "slow" too).
    env = server_env(
        url, redis_url, SUBSCRIBER_QUEUE_SIZE="50", SLOW_CONSUMER_SECONDS="3", WS_CLOSE_TIMEOUT="1"
    )
    with web_server(env) as base:
        stalled = StalledClient(base)
        try:
            await asyncio.to_thread(stalled.subscribe)
            async with open_socket(base) as fast:
                await signed_in(fast)
                await fast.subscribe("f", EVENTS, after="0")
                # ~12 MB of incompressible frames: far more than the stalled peer's window
                # and the server's buffers, so the server's sends to it block.
                for _ in range(30):
                    await chain.emit(50, memo=secrets.token_hex(4096), redis=redis)
                got = cursors(await frames(fast, "f", 1500))
                text = await metrics_when(
                    base,
                    lambda t: (
                        metric(t, "dpo_feed_slow_consumer_closes_total") >= 1
                        and metric(t, "dpo_ws_aborts_total") >= 1
                        and metric(t, "dpo_ws_connections") == 1
                        and metric(t, "dpo_feed_subscriptions") == 1
                    ),
                )
                how = await asyncio.to_thread(stalled.wait_cut_off)
                # The one left goes on.
                await chain.emit(3, redis=redis)
                got += cursors(await frames(fast, "f", 3))
        finally:
            stalled.close()
    assert got == list(range(1, 1504))
    assert metric(text, "dpo_feed_slow_consumer_closes_total") == 1
    assert how in ("eof", "reset")

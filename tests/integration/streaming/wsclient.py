"""A small GraphQL-over-WebSocket client for the tests, speaking either protocol."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

EVENTS = """subscription($after: String, $filter: EventFilter) {
  events(after: $after, filter: $filter) {
    cursor node { sequence contractName eventName removed removesSequence args }
  }
}"""


class GraphQLSocket:
    """One socket: connection_init, subscribe, and reading frames with a deadline."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        """The next message other than keep-alives."""
        async with asyncio.timeout(90):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if message.get("type") not in ("ka", "ping", "pong"):
                    return message

    async def init(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(self, op_id: str, query: str, **variables: Any) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables}}
        )

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": op_id, "type": kind})

    async def data(self, op_id: str) -> dict[str, Any]:
        """The next result of an operation; fails on anything else."""
        message = await self.receive()
        assert message.get("id") == op_id, message
        assert message["type"] in ("next", "data"), message
        payload: dict[str, Any] = message["payload"]
        assert not payload.get("errors"), payload
        return payload["data"]  # type: ignore[no-any-return]

    def drop(self) -> None:
        """Cut the connection without a closing handshake, as a crashing client would."""
        self.ws.transport.abort()

    async def closed_with(self) -> tuple[int | None, str]:
        """Read until the server closes; its close code and reason."""
        async with asyncio.timeout(60):
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed as closed:
                if closed.rcvd is None:
                    return None, ""
                return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError("unreachable")


@asynccontextmanager
async def open_socket(
    base: str, *, protocol: str = TRANSPORT_WS, small_buffers: bool = False, **options: Any
) -> AsyncIterator[GraphQLSocket]:
    """A socket to base's /graphql; `small_buffers` makes a client that reads late pile up."""
    url = base.replace("http://", "ws://") + "/graphql"
    if small_buffers:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        options.update(sock=sock, max_queue=1)
    # A client with unread frames queued reads no more, so it never sees the server's close.
    options.setdefault("close_timeout", 1)
    async with connect(
        url, subprotocols=[Subprotocol(protocol)], compression=None, open_timeout=10, **options
    ) as ws:
        yield GraphQLSocket(ws, protocol)

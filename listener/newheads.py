"""New chain heads pushed over WebSocket (eth_subscribe "newHeads") for ws(s):// RPC URLs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from listener.ports import RpcError
from listener.rpc_policy import endpoint_label

logger = logging.getLogger(__name__)

# websockets logs the request line (path = the provider's token) at DEBUG: keep it quieter.
_PROTOCOL_LOGGER = logging.getLogger("listener.newheads.protocol")
_PROTOCOL_LOGGER.setLevel(logging.WARNING)


class NewHeads:
    """A newHeads subscription: subscribed on entering, iterates block numbers as they arrive.

    Any connection failure raises RpcError(retryable=True) naming only scheme://host; the
    caller falls back to polling or subscribes again. Heads may skip or repeat numbers (reorgs,
    reconnects): treat them as a wake-up signal, not as a block list.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.lower().startswith(("ws://", "wss://")):
            raise ValueError("newHeads needs a ws:// or wss:// URL")
        self._url = url
        self._timeout = timeout
        self._socket: ClientConnection | None = None
        self._subscription: str | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint as scheme://host."""
        return endpoint_label(self._url)

    def _failed(self, what: str, error: BaseException | None = None) -> RpcError:
        detail = f": {type(error).__name__}" if error is not None else ""
        return RpcError(f"newHeads on {self.endpoint} {what}{detail}", retryable=True)

    async def __aenter__(self) -> NewHeads:
        try:
            self._socket = await connect(
                self._url, open_timeout=self._timeout, logger=_PROTOCOL_LOGGER, max_size=2**22
            )
            await self._socket.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
                )
            )
            async with asyncio.timeout(self._timeout):
                reply = json.loads(await self._socket.recv())
        except (OSError, TimeoutError, WebSocketException, ValueError) as error:
            await self.aclose()
            raise self._failed("could not subscribe", error) from None
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), str):
            await self.aclose()
            raise RpcError(
                f"newHeads on {self.endpoint} refused: {str(reply)[:200]}", retryable=False
            )
        self._subscription = reply["result"]
        logger.info("subscribed to newHeads on %s", self.endpoint)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close()

    def __aiter__(self) -> AsyncIterator[int]:
        return self._numbers()

    async def _numbers(self) -> AsyncIterator[int]:
        async for header in self.headers():
            yield int(header["number"], 16)

    async def headers(self) -> AsyncIterator[dict[str, Any]]:
        """The pushed headers as the node sends them (hex fields), as they arrive."""
        socket = self._socket
        if socket is None:
            raise RuntimeError("enter the NewHeads context first")
        try:
            async for message in socket:
                header = self._head(json.loads(message))
                if header is not None:
                    yield header
        except (OSError, WebSocketException, ValueError) as error:
            if self._socket is None:
                return  # we closed it
            raise self._failed("lost", error) from None
        if self._socket is not None:
            raise self._failed("closed by the server")

    def _head(self, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict) or message.get("method") != "eth_subscription":
            return None
        params = message.get("params") or {}
        if params.get("subscription") != self._subscription:
            return None
        result = params.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("number"), str):
            raise ValueError("a newHeads message without a block number")
        return result


async def subscribe_new_heads(url: str, *, open_timeout: float = 10.0) -> AsyncGenerator[int]:
    """Block numbers of new heads from a ws(s):// endpoint until the connection fails."""
    async with NewHeads(url, timeout=open_timeout) as heads:
        async for number in heads:
            yield number


async def subscribe_headers(
    url: str, *, open_timeout: float = 10.0
) -> AsyncGenerator[dict[str, Any]]:
    """New heads' headers (hex fields) from a ws(s):// endpoint until the connection fails."""
    async with NewHeads(url, timeout=open_timeout) as heads:
        async for header in heads.headers():
            yield header

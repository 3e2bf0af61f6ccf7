"""uvicorn's httptools protocol with read deadlines, so slow clients cannot hold connections.

uvicorn 0.55 bounds only the idle time between requests (`timeout_keep_alive`); a client that
sends its headers or its body a byte at a time (slowloris) keeps its connection, and what the
server holds for it, for ever. Here each request has two deadlines:

- its headers must be complete HTTP_HEADER_TIMEOUT seconds after the connection opened or
  the request's first byte arrived (a keep-alive connection waiting for its next request is
  uvicorn's `timeout_keep_alive`);
- its body must be complete HTTP_BODY_TIMEOUT seconds after the headers.

A request that misses one gets `408 Request Timeout` (when no response has started) and the
connection is closed. A WebSocket upgrade leaves the deadlines at the handshake: from then on
the WebSocket's own timeouts apply (WS_INIT_TIMEOUT for `connection_init`, pings).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.http.metrics import REGISTRY

logger = logging.getLogger(__name__)

TIMEOUTS = Counter(
    "dpo_http_read_timeouts_total",
    "Connections closed because a request's headers or body came too slowly.",
    ["part"],
    registry=REGISTRY,
)
_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 17\r\nconnection: close\r\n\r\nRequest Timeout.\n"
)


class DeadlineHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus the header and body deadlines (set by `with_deadlines`)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for = "headers"
        self._headers_in = False  # whether self.cycle is the current request's

    def _arm(self, part: str, seconds: float) -> None:
        self._disarm()
        self._waiting_for = part
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        TIMEOUTS.labels(self._waiting_for).inc()
        logger.info(
            "closing a connection whose request %s did not arrive in time", self._waiting_for
        )
        cycle = self.cycle
        # A 408 only where a response may begin: never inside one already being written.
        if self._headers_in:
            may_answer = cycle is not None and not cycle.response_started
        else:
            may_answer = cycle is None or cycle.response_complete
        if may_answer:
            self.transport.write(_408)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline as the connection opens."""
        super().connection_made(transport)
        self._arm("headers", self.header_timeout)

    def on_message_begin(self) -> None:
        """A new request on a kept-alive connection: its headers' deadline starts now."""
        super().on_message_begin()
        self._headers_in = False
        if self._deadline is None:
            self._arm("headers", self.header_timeout)

    def on_headers_complete(self) -> None:
        """Headers in: the body's deadline starts (a WebSocket upgrade ends them here)."""
        super().on_headers_complete()
        self._headers_in = True
        if self.parser.should_upgrade() and self._should_upgrade():  # a WebSocket handshake
            self._disarm()
        else:
            self._arm("body", self.body_timeout)

    def on_message_complete(self) -> None:
        """The whole request arrived: no deadline until the next one begins."""
        super().on_message_complete()
        self._disarm()

    def handle_websocket_upgrade(self) -> None:
        """The WebSocket protocol takes the connection over with its own timeouts."""
        self._disarm()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing to time once the connection is gone."""
        self._disarm()
        super().connection_lost(exc)


def with_deadlines(*, header_timeout: float, body_timeout: float) -> type[DeadlineHttpProtocol]:
    """The protocol class `dpo web` hands uvicorn, with these deadlines."""
    return type(
        "HttpProtocol",
        (DeadlineHttpProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )

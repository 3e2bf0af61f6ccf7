"""uvicorn's sans-I/O WebSocket protocol, with a close that never waits on a peer not reading.

uvicorn queues every frame, the close frame included, behind the data the peer has not read
yet, waits for the write buffer to drain before it even writes the close frame, and ends a
closing handshake with `transport.close()`, which itself waits for the buffer to drain. A
peer that never reads again (a stalled consumer, a dead network path) would hold its socket,
its buffers and its subscriptions for ever. Here:

- a close while the write buffer is full is written at once (behind the unread data) instead
  of waiting for room;
- every close, ours or a keep-alive timeout, ends with an abort after WS_CLOSE_TIMEOUT
  seconds unless the peer completed the handshake by then; the abort resets the connection
  (SO_LINGER 0), so neither our buffer nor the kernel's outlives it;
- a text message can be written synchronously (`write_text_now`, offered to the application
  in the scope's extensions as WRITE_TEXT): the feed hub writes a live frame to a thousand
  sockets in one pass instead of waking a task per socket. It writes only what `send` would
  write at once, and declines whenever `send` would wait (the peer is not reading) or fail.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import weakref
from contextlib import suppress
from typing import Any

from prometheus_client import Counter
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from app.http.metrics import REGISTRY

logger = logging.getLogger(__name__)

ABORTS = Counter(
    "dpo_ws_aborts_total",
    "WebSockets reset because the peer did not complete the closing handshake in "
    "time (it stopped reading).",
    registry=REGISTRY,
)
_LINGER_ZERO = struct.pack("ii", 1, 0)
GOING_AWAY = 1001
SHUTDOWN_REASON = "server shutting down; reconnect and resume from your last cursor"
# The scope extension holding a weak reference to the socket's `write_text_now`.
WRITE_TEXT = "dpo.websocket.write_text"


class Inbox:
    """The part of asyncio.Queue uvicorn's protocol uses, without its four deques.

    An idle socket holds its queue and its `writable` flag for hours: asyncio's Queue and
    Event allocate ~3.5 KB of deques per socket; these hold a list, and a future per waiter.
    """

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: Any) -> None:
        """Append an item and wake the longest waiting reader."""
        self._items.append(item)
        _wake(self._waiters, everyone=False)

    def empty(self) -> bool:
        """Whether nothing is waiting to be read."""
        return not self._items

    async def get(self) -> Any:
        """The oldest item, waiting for one if need be."""
        while not self._items:
            try:
                await _wait(self._waiters)
            except asyncio.CancelledError:
                if self._items:
                    _wake(self._waiters, everyone=False)  # the item it was woken for
                raise
        if self._items[1:]:
            _wake(self._waiters, everyone=False)  # more for the next reader
        return self._items.pop(0)


class Flag:
    """asyncio.Event's set/clear/is_set/wait without its deque."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        """Whether the flag is up."""
        return self._set

    def set(self) -> None:
        """Raise the flag and wake every waiter."""
        self._set = True
        _wake(self._waiters, everyone=True)

    def clear(self) -> None:
        """Lower the flag."""
        self._set = False

    async def wait(self) -> None:
        """Return once the flag is up."""
        while not self._set:
            await _wait(self._waiters)


async def _wait(waiters: list[asyncio.Future[None]]) -> None:
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    finally:
        with suppress(ValueError):
            waiters.remove(waiter)


def _wake(waiters: list[asyncio.Future[None]], *, everyone: bool) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
            if not everyone:
                return


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """The protocol `dpo web` serves WebSockets with (uvicorn's `ws` option)."""

    # Seconds a closed socket's peer has to finish the close (WS_CLOSE_TIMEOUT, with_close_timeout).
    CLOSE_TIMEOUT = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_timeout = self.CLOSE_TIMEOUT
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Request) -> None:
        """Start the handshake as uvicorn does, then empty the request's headers.

        The scope has its own copy; the request itself stays referenced by the parser for the
        connection's lifetime (~3 KB of headers per idle socket otherwise).
        """
        super().handle_connect(event)
        event.headers.clear()
        if self.response.status_code == 101:
            # Weak: the scope outlives nothing, but must not keep the protocol alive either.
            extensions: dict[str, Any] | None = self.scope.setdefault("extensions", {})
            if extensions is not None:
                extensions[WRITE_TEXT] = weakref.WeakMethod(self.write_text_now)

    def write_text_now(self, data: bytes) -> bool:
        """Write one text message now, as `send` does, or return False if it would wait.

        `send` waits while the write buffer is over its high-water mark (the peer is not
        reading): then nothing is written here and the caller takes the waiting path.
        """
        if (
            not self.writable.is_set()
            or not self._open()
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        if self.conn.extensions:  # never today: `dpo web` negotiates no compression
            self.conn.send_text(data)
            self.transport.write(b"".join(self.conn.data_to_send()))
        else:
            self.transport.write(text_frame_header(len(data)) + data)
        return True

    async def send(self, message: ASGISendEvent) -> None:
        """Send as uvicorn does, except a close that would wait for a peer that is not reading."""
        closing = message["type"] == "websocket.close"
        if closing and not self.writable.is_set() and self._open():
            code, reason = message.get("code", 1000), message.get("reason")
            self._close_behind_unread(
                code if isinstance(code, int) else 1000, reason if isinstance(reason, str) else ""
            )
            return
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Only the handshake reads them; thousands of idle sockets would keep them.
            del self.request, self.response
        if closing and self.close_timer is not None:
            # uvicorn's timer would only call transport.close(), which waits for the drain.
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self.abort)

    def shutdown(self) -> None:
        """The server is stopping (SIGTERM): close with 1001, going away, not uvicorn's 1012.

        1001 tells a client this endpoint is going away, so it reconnects (Railway routes it to
        another replica) and resumes each subscription from its last cursor. A peer that does
        not answer the close is reset after WS_CLOSE_TIMEOUT, as for any close of ours.
        """
        if not self._open():  # no handshake yet (uvicorn answers 500), or already closing
            super().shutdown()
            return
        self.stop_keepalive()
        # Written at once, behind any data the peer has not read yet; abort timer armed.
        self._close_behind_unread(GOING_AWAY, SHUTDOWN_REASON)

    def keepalive_timeout(self) -> None:
        """uvicorn closes a peer that missed a pong; make sure the socket really goes."""
        super().keepalive_timeout()
        if not self.disconnected and self.close_timer is None:
            self.close_timer = self.loop.call_later(self.close_timeout, self.abort)

    def abort(self) -> None:
        """Reset the connection now, dropping whatever the peer has not read."""
        self.close_timer = None
        if self.disconnected:
            return
        ABORTS.inc()
        logger.info(
            "resetting a WebSocket from %s whose peer did not complete the close in %.1fs",
            self.client[0] if self.client else "?",
            self.close_timeout,
        )
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self.transport.abort()

    def _open(self) -> bool:
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
        )

    def _close_behind_unread(self, code: int, reason: str) -> None:
        # What uvicorn does for a close, minus waiting for room in the write buffer.
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.abort)


def text_frame_header(length: int) -> bytes:
    """The header websockets writes for a server's (unmasked) final text frame of `length`.

    Without extensions a frame is this header and the payload as given (RFC 6455 5.2), so
    writing both skips websockets' Frame object and its serializer: a few µs per frame, times
    every subscriber of every item.
    """
    if length < 126:
        return struct.pack("!BB", 0x81, length)
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def with_close_timeout(seconds: float) -> type[WebSocketProtocol]:
    """The protocol class `dpo web` hands uvicorn, with WS_CLOSE_TIMEOUT."""
    return type("ConfiguredWebSocketProtocol", (WebSocketProtocol,), {"CLOSE_TIMEOUT": seconds})

"""Shared subscription frames written straight to the socket, past Strawberry's per-result path.

Strawberry sends each subscription result through its stream generator, the extensions' result
hooks and the protocol handler: ~60 µs per frame, paid once per subscriber per event. A result
shared by every subscriber of an operation (schema.shared_events) needs none of that: its data
is final and encoded. Each operation's task holds a `FrameSink` (Context.use_frame_sink, when
the task starts) that writes such a frame, the pre-encoded data behind the operation's own prefix,
byte for byte what Strawberry's handler would send. Everything else — subscribe, complete,
errors, the first (executing) subscriber of an item, unshared results — stays with Strawberry.

The feed hub goes further (schema.direct_frames): while an operation's task is idle, a live
item's frame is written by the hub's fan-out itself, synchronously (`write_now`, through the
socket's `write_text_now`, app.server.ws_protocol), so a thousand subscribers cost a thousand
writes, not a thousand task wake-ups. The same bytes as `send`; declined whenever `send` would
wait or the operation is over, and the item then goes through the task.

A sink sends nothing once its operation is over (the client's complete/stop, an error, the
socket closing): the handler forgets the operation before it cancels the task, and the sink
checks the handler's bookkeeping before every write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from app.http.metrics import REGISTRY
from app.server.ws_protocol import WRITE_TEXT
from app.subscriptions.ws_limits import operation_refusal
from app.subscriptions.ws_messages import INVALID_MESSAGE, message_problem
from schema.context import Context
from schema.shared_events import EncodedData, frame_prefix

logger = logging.getLogger(__name__)

DIRECT_FRAMES = Counter(
    "dpo_ws_direct_frames_total",
    "Shared subscription frames written to the socket without Strawberry's per-result path.",
    ["protocol"],
    registry=REGISTRY,
)
_TRANSPORT_WS = DIRECT_FRAMES.labels(protocol="graphql-transport-ws")
_LEGACY_WS = DIRECT_FRAMES.labels(protocol="graphql-ws")


def _socket_of(adapter: Any) -> WebSocket:
    # Strawberry's ASGI adapter keeps the Starlette WebSocket it sends through as `ws`.
    websocket = getattr(adapter, "ws", None)
    assert isinstance(websocket, WebSocket)
    return websocket


def _writer_of(websocket: WebSocket) -> Callable[[bytes], bool] | None:
    """The socket's synchronous writer (app.server.ws_protocol), if the server offers one."""
    extensions = websocket.scope.get("extensions") or {}
    ref = extensions.get(WRITE_TEXT)
    writer = ref() if ref is not None else None
    return writer if callable(writer) else None


async def _write(websocket: WebSocket, text: str) -> bool:
    try:
        await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError, OSError):
        # The socket is closing: the handler ends the operation; nothing more to send.
        return False
    return True


class _TransportSink:
    """The sink of one graphql-transport-ws operation: `next` frames."""

    __slots__ = ("handler", "operation", "prefix", "raw_prefix", "websocket", "writer")
    # What `write_now`'s frames count in (the fan-out's tally adds them, dpo.streaming.batch).
    counter = _TRANSPORT_WS

    def __init__(self, handler: TransportWSHandler, operation: Operation[Context, None]) -> None:
        self.handler = handler
        self.operation = operation
        self.prefix = frame_prefix(operation.id, "next")
        self.raw_prefix = self.prefix.encode()
        self.websocket = _socket_of(handler.websocket)
        self.writer = _writer_of(self.websocket)

    @property
    def direct(self) -> bool:
        """Whether `write_now` can write at all (the server offers a synchronous writer)."""
        return self.writer is not None

    def write_now(self, data: EncodedData) -> bool:
        """Write the `next` frame now, unless the operation is over or the socket would wait."""
        operation = self.operation
        writer = self.writer
        if writer is None or operation.completed:
            return False
        if self.handler.operations.get(operation.id) is not operation:
            return False
        return writer(self.raw_prefix + data.raw + b"}}")

    async def send(self, data: EncodedData) -> bool:
        """Write the `next` frame unless the operation is over."""
        operation = self.operation
        if operation.completed or self.handler.operations.get(operation.id) is not operation:
            return False
        if not await _write(self.websocket, self.prefix + data.encoded + "}}"):
            return False
        _TRANSPORT_WS.inc()
        return True


class _LegacySink:
    """The sink of one graphql-ws operation: `data` frames."""

    __slots__ = ("handler", "operation_id", "prefix", "raw_prefix", "task", "websocket", "writer")
    counter = _LEGACY_WS

    def __init__(
        self, handler: LegacyWSHandler, operation_id: str, task: asyncio.Task[Any] | None
    ) -> None:
        self.handler = handler
        self.operation_id = operation_id
        self.task = task
        self.prefix = frame_prefix(operation_id, "data")
        self.raw_prefix = self.prefix.encode()
        self.websocket = _socket_of(handler.websocket)
        self.writer = _writer_of(self.websocket)

    @property
    def direct(self) -> bool:
        """Whether `write_now` can write at all (the server offers a synchronous writer)."""
        return self.writer is not None

    def write_now(self, data: EncodedData) -> bool:
        """Write the `data` frame now, unless the operation was stopped or the socket would wait."""
        writer = self.writer
        if writer is None or self.task is None:
            return False
        if self.handler.tasks.get(self.operation_id) is not self.task:
            return False
        return writer(self.raw_prefix + data.raw + b"}}")

    async def send(self, data: EncodedData) -> bool:
        """Write the `data` frame unless the operation was stopped."""
        if self.task is None or self.handler.tasks.get(self.operation_id) is not self.task:
            return False
        if not await _write(self.websocket, self.prefix + data.encoded + "}}"):
            return False
        _LEGACY_WS.inc()
        return True


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with a frame sink in each operation's task."""

    async def handle_message(self, message: Any) -> None:
        """Close an invalid message with 4400 (ws_messages); else as Strawberry does."""
        problem = message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    def forget_id(self, id: str) -> None:
        """Forget a finished operation; the client's `complete` or the socket's end may have.

        Strawberry's `del` raised KeyError (logged at ERROR) when the client completed the
        operation, or closed the socket, while its errors were being sent.
        """
        self.operations.pop(id, None)

    async def handle_task_exception(self, error: Exception) -> None:
        """A peer that closed while its operation was answering is not a server error.

        Strawberry logs every exception of an operation's task with its traceback at ERROR,
        including the disconnection a client causes by closing its socket mid-operation.
        """
        if isinstance(error, WebSocketDisconnected):
            logger.info("a WebSocket closed while one of its operations was answering")
            return
        await super().handle_task_exception(error)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Run the operation as Strawberry does, its shared frames going through the sink.

        Counted first (ws_limits): over the limit, the operation ends with an `error`
        message and the socket stays open.
        """
        refused = await operation_refusal(self.context)
        if refused is not None:
            await operation.send_initial_errors([refused])
            return
        self.context.use_frame_sink(_TransportSink(self, operation))
        await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws, with a frame sink in each operation's task."""

    async def handle_message(self, message: Any) -> None:
        """Close an invalid message with 4400 (ws_messages); else as Strawberry does."""
        problem = message_problem(message)
        if problem is not None:
            await self.websocket.close(code=INVALID_MESSAGE, reason=problem)
            return
        await super().handle_message(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Run the operation as Strawberry does, its shared frames going through the sink.

        Counted first (ws_limits): over the limit, the operation ends with an `error`
        message (as Strawberry's for a refused document) and the socket stays open.
        """
        refused = await operation_refusal(self.context)
        if refused is not None:
            try:
                await self.send_message(
                    {"type": "error", "id": operation_id, "payload": refused.formatted}
                )
            finally:
                self.subscriptions.pop(operation_id, None)
                self.tasks.pop(operation_id, None)
            return
        self.context.use_frame_sink(_LegacySink(self, operation_id, asyncio.current_task()))
        await super().handle_async_results(operation_id, query, operation_name, variables)

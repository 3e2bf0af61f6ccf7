"""GraphQL over WebSocket: sign-in in connection_init, caps, token expiry, slow consumers.

Both graphql-transport-ws and the legacy graphql-ws are served. The client sends its access
token in the `connection_init` payload, as `{"authorization": "Bearer <token>"}` or another
common shape (ws_auth); a missing or bad token is refused (graphql-transport-ws: close 4403
with a reason saying what is expected; graphql-ws: `connection_error`, then close). Without
`connection_init` within WS_INIT_TIMEOUT seconds the socket is closed with 4408. When the access
token expires the socket is closed with 4401: the client signs in again (refresh) and resumes
each subscription from its last cursor.
A consumer that stops reading is closed with 4413, also resumable from its cursor.

Caps, shared by every replica through Redis (ws_caps; this process's own counts while Redis
is unreachable): WS_MAX_CONNECTIONS_PER_ADDRESS sockets per client
address (refused at the handshake, HTTP 403), WS_MAX_CONNECTIONS_PER_USER signed-in sockets per
user (refused at connection_init like a bad token, with code LIMIT_EXCEEDED in the payload) and
WS_MAX_SUBSCRIPTIONS_PER_CONNECTION operations per socket (the extra one gets an error).
Keep-alive: uvicorn pings every socket at the WebSocket level; graphql-ws clients also get
`ka` messages every WS_KEEPALIVE_INTERVAL seconds.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UNSET, UnsetType

from app.http.metrics import REGISTRY
from app.subscriptions.ws_auth import EXPECTED, rejection_reason, token_of
from app.subscriptions.ws_caps import ConnectionCaps, Lease, caps_of, caps_redis
from app.subscriptions.ws_frames import LegacyWSHandler, TransportWSHandler
from dpo.auth.authenticate import MAX_TOKEN_LENGTH
from dpo.auth.tokens import verify_access_token
from dpo.errors import UnauthenticatedError
from dpo.settings.streaming import StreamingSettings
from dpo.streaming import metrics
from dpo.streaming.subscriber import FeedSubscription
from schema.context import Context

logger = logging.getLogger(__name__)

TOKEN_EXPIRED = 4401
SLOW_CONSUMER = 4413
# The scope holds the socket's Connection under this name (connection_of reads it).
_KEY = "dpo.ws"


# /metrics serves the web app's registry: add the subscription metrics to it.
for _collector in metrics.COLLECTORS:
    REGISTRY.register(_collector)


class Connection:
    """What one socket holds: its counted caps, its expiry timer and a way to close it."""

    __slots__ = ("address", "caps", "expiry", "rejection", "user", "websocket")

    def __init__(self, caps: ConnectionCaps, address: Lease) -> None:
        self.caps = caps
        self.address = address
        self.user: Lease | None = None
        self.websocket: WebSocket | None = None
        # A timer rather than a sleeping task: thousands of idle sockets each hold one.
        self.expiry: asyncio.TimerHandle | None = None
        # Why connection_init was refused: the close frame's reason (app.graphql.input).
        self.rejection: str | None = None

    async def release(self) -> None:
        """Give the caps back and stop the timer."""
        if self.expiry is not None:
            self.expiry.cancel()
        self.websocket = None
        user, self.user = self.user, None
        if user is not None:
            await self.caps.release(user)
        await self.caps.release(self.address)

    def close_in_background(self, code: int, reason: str) -> None:
        """Close the socket from a synchronous caller (a timer, the hub)."""
        if self.websocket is not None:
            task = asyncio.create_task(_close(self.websocket, code, reason))
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

    def expire(self) -> None:
        """The access token ran out."""
        logger.info("closing a WebSocket whose access token expired")
        self.close_in_background(TOKEN_EXPIRED, "access token expired")

    def close_slow(self, subscription: FeedSubscription) -> None:
        """The hub found one of this socket's subscriptions stalled."""
        reason = f"slow consumer; resume after your last cursor ({subscription.delivered})"
        self.close_in_background(SLOW_CONSUMER, reason)


# Closes in flight, held so they are not collected before they finish.
_CLOSING: set[asyncio.Task[None]] = set()


def connection_of(scope: Scope) -> Connection | None:
    """The socket's Connection (None for a scope serve_websocket did not open)."""
    found = scope.get(_KEY)
    return found if isinstance(found, Connection) else None


def _refuse(context: Context, code: str, message: str) -> ConnectionRejectionError:
    """The refusal of a connection_init; graphql-transport-ws closes with its reason."""
    connection = connection_of(context.request.scope)
    if connection is not None:
        connection.rejection = rejection_reason(code, message)
    return ConnectionRejectionError({"code": code, "message": message})


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with suppress(RuntimeError, OSError):
        await websocket.close(code=code, reason=reason)


class WebSocketSubscriptions:
    """Mixed into the GraphQL view before Strawberry's class: its WebSocket hooks and knobs.

    The view is reached for a socket only through serve_websocket (app.endpoint picks it).
    """

    connection_init_wait_timeout: timedelta
    keep_alive: bool
    # Shared frames go to the socket directly (app.subscriptions.ws_frames).
    graphql_transport_ws_handler_class: type[BaseGraphQLTransportWSHandler[Context, None]] = (
        TransportWSHandler
    )
    graphql_ws_handler_class: type[BaseGraphQLWSHandler[Context, None]] = LegacyWSHandler
    keep_alive_interval: float | None
    max_subscriptions_per_connection: int | None

    def __init__(self, *args: Any, knobs: StreamingSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.knobs = knobs
        self.connection_init_wait_timeout = timedelta(seconds=knobs.ws_init_timeout)
        self.keep_alive = True
        self.keep_alive_interval = knobs.ws_keepalive_interval
        self.max_subscriptions_per_connection = knobs.ws_max_subscriptions_per_connection

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Sign the socket in with the access token of connection_init, or refuse it."""
        token = token_of(context.connection_params)
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise _refuse(context, "UNAUTHENTICATED", EXPECTED)
        try:
            principal = verify_access_token(token, settings=context.runtime.settings)
        except UnauthenticatedError as error:
            raise _refuse(context, "UNAUTHENTICATED", error.message) from None
        websocket = context.request
        assert isinstance(websocket, WebSocket)
        connection = connection_of(websocket.scope)
        assert connection is not None  # serve_websocket opened it
        user = await connection.caps.take(
            caps_redis(websocket.scope),
            "user",
            principal.actor,
            self.knobs.ws_max_connections_per_user,
        )
        if user is None:
            raise _refuse(context, "LIMIT_EXCEEDED", "too many connections for this user")
        connection.user = user
        context.principal = principal
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        seconds = max(0.0, float(expires) - datetime.now(UTC).timestamp())
        connection.websocket = websocket
        connection.expiry = asyncio.get_running_loop().call_later(seconds, connection.expire)
        context.on_slow = connection.close_slow
        unset: UnsetType = UNSET
        return unset


async def serve_websocket(
    view: ASGIApp, knobs: StreamingSettings, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one GraphQL WebSocket through `view`, counted against its address while open."""
    client = scope.get("client")
    caps = caps_of(scope)
    address = await caps.take(
        caps_redis(scope),
        "address",
        client[0] if client else "unknown",
        knobs.ws_max_connections_per_address,
    )
    if address is None:
        logger.warning("refusing a WebSocket: too many from one address")
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        return
    connection = Connection(caps, address)
    scope[_KEY] = connection
    metrics.CONNECTIONS.inc()
    try:
        await view(scope, receive, send)
    finally:
        metrics.CONNECTIONS.dec()
        await connection.release()

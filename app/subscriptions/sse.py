"""Subscriptions over Server-Sent Events: graphql-sse's "distinct connections" mode on /graphql.

A GET or POST to /graphql with `Accept: text/event-stream` runs one subscription and streams
its results as `event: next` messages, then `event: complete`. Sign-in is the HTTP one (the
Authorization header or an API key), or a stream ticket in `?ticket=` for a browser's
EventSource (app.subscriptions.stream_auth); anonymous callers get 401. The same permissions
and per-user and per-address connection caps apply as on the WebSocket (ws). An item of
`events` carries its feed sequence as the SSE `id:`; a client that reconnects with
`Last-Event-ID` resumes after it (the value replaces the `$after` variable). A comment is
sent every WS_KEEPALIVE_INTERVAL seconds; the stream ends when the access token expires and
when the hub finds the consumer stalled.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.http import process_result
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.auth import principal_of
from app.graphql.input import check_query_length, too_deep
from app.http.negotiation import is_subscription
from app.http.state import request_state
from app.subscriptions.sse_route import SSE_HEADERS, encode_next, run_once
from app.subscriptions.stream_auth import stream_caller
from app.subscriptions.ws_caps import caps_of, caps_redis
from dpo.auth.principal import Kind
from dpo.auth.stream_tickets import ticket_of
from dpo.errors import ErrorCode
from dpo.safe_json import JSONTooDeepError, loads
from dpo.streaming import metrics
from dpo.streaming.subscriber import FeedSubscription
from resolvers.loaders import RequestLoaders
from schema.context import Context

logger = logging.getLogger(__name__)

_SEQUENCE = re.compile(r"^[0-9]{1,19}$")


def _error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code.value}}]},
        status_code=status,
    )


async def _params(request: Request) -> dict[str, Any] | None:
    """query, variables and operationName from the query string (GET) or the JSON body.

    LimitExceededError when the JSON nests too deep or the query is too long (the view answers
    it with a 400).
    """
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        for field in ("variables", "extensions"):
            if field not in raw:
                continue
            try:
                raw[field] = loads(raw[field])
            except JSONTooDeepError as error:
                raise too_deep(error) from None
            except ValueError:
                return None
    else:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return None
        try:
            raw = loads(await request.body())
        except JSONTooDeepError as error:
            raise too_deep(error) from None
        except ValueError:
            return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("query"), str)
        or not raw["query"].strip()
    ):
        return None
    check_query_length(raw["query"])
    variables = raw.get("variables") or {}
    name, extensions = raw.get("operationName"), raw.get("extensions")
    if (
        not isinstance(variables, dict)
        or not (name is None or isinstance(name, str))
        or not (extensions is None or isinstance(extensions, dict))
    ):
        return None
    return {"query": raw["query"], "variables": variables, "operation_name": name}


class _Stream:
    """One SSE response: serialised sends, a keep-alive, and ways to end it early."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None

    async def write(self, body: bytes) -> None:
        async with self.lock:
            await self.send({"type": "http.response.body", "body": body, "more_body": True})

    async def keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.write(b": keep-alive\n\n")

    def stop(self, why: str) -> None:
        logger.info("ending an event stream: %s", why)
        if self.task is not None:
            self.task.cancel()

    def close_slow(self, subscription: FeedSubscription) -> None:
        self.stop(f"slow consumer at cursor {subscription.delivered}")


async def serve_event_stream(view: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Run one operation as an SSE response (UnauthenticatedError leaves for the 401).

    A subscription streams until it ends; a query or a mutation is one `next` (sse_route).
    """
    request = Request(scope, receive)
    runtime = scope["app"].state.runtime
    params = await _params(request)
    if params is not None and not is_subscription(params["query"], params["operation_name"]):
        # The HTTP credential: a stream ticket never stands in for it (principal_of refuses it).
        await run_once(view, request, await principal_of(request, runtime), params, send)
        return
    if params is None:
        # A bad credential is still a 401 first; a stream ticket is left unspent.
        if ticket_of(scope.get("query_string", b"")) is None:
            await principal_of(request, runtime)
        await _error(
            400,
            ErrorCode.VALIDATION,
            "send a GraphQL operation: query, variables (an object) and operationName",
        )(scope, receive, send)
        return
    principal, ends_at = await stream_caller(request, runtime)
    if principal.kind == Kind.ANONYMOUS:
        await _error(401, ErrorCode.UNAUTHENTICATED, "sign in to subscribe")(scope, receive, send)
        return
    resume = request.headers.get("last-event-id")
    if resume is not None and _SEQUENCE.match(resume.strip()):
        params["variables"]["after"] = resume.strip()
    knobs = runtime.settings
    client = scope.get("client")
    redis, caps = caps_redis(scope), caps_of(scope)
    address = await caps.take(
        redis, "address", client[0] if client else "unknown", knobs.ws_max_connections_per_address
    )
    if address is None:
        await _error(429, ErrorCode.LIMIT_EXCEEDED, "too many connections from this address")(
            scope, receive, send
        )
        return
    try:
        user = await caps.take(redis, "user", principal.actor, knobs.ws_max_connections_per_user)
        if user is None:
            await _error(429, ErrorCode.LIMIT_EXCEEDED, "too many connections for this user")(
                scope, receive, send
            )
            return
        try:
            await _run(view, request, principal, params, send, receive, ends_at=ends_at)
        finally:
            await caps.release(user)
    finally:
        await caps.release(address)


async def _run(
    view: Any,
    request: Request,
    principal: Any,
    params: dict[str, Any],
    send: Send,
    receive: Receive,
    *,
    ends_at: float | None,
) -> None:
    stream = _Stream(send)
    context = Context(
        request=request,
        runtime=request.scope["app"].state.runtime,
        make_loaders=RequestLoaders,
        principal=principal,
        counted=request_state(request.scope).counted,
        on_slow=stream.close_slow,
    )
    knobs = context.runtime.settings
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    pump = asyncio.create_task(_pump(view, context, params, stream))
    stream.task = pump
    # The access token's expiry (the one that asked for the ticket, with a ticket).
    expiry = None if ends_at is None else max(0.0, ends_at - datetime.now(UTC).timestamp())
    timer = (
        asyncio.get_running_loop().call_later(expiry, stream.stop, "access token expired")
        if expiry is not None
        else None
    )
    helpers = [
        asyncio.create_task(stream.keep_alive(knobs.ws_keepalive_interval)),
        asyncio.create_task(_watch_disconnect(receive, stream)),
    ]
    # On SIGTERM the stream ends at once (app.server.drain): the client resumes on another replica.
    unregister = request.scope["app"].state.drain.register(
        lambda: stream.stop("server shutting down")
    )
    metrics.CONNECTIONS.inc()
    try:
        await pump
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the server is stopping us, not the stream ending
    finally:
        unregister()
        metrics.CONNECTIONS.dec()
        if timer is not None:
            timer.cancel()
        for helper in helpers:
            helper.cancel()
        # A peer that stopped reading would hold the last write for ever.
        with suppress(OSError, RuntimeError, TimeoutError):
            async with asyncio.timeout(knobs.ws_close_timeout), stream.lock:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump(view: Any, context: Context, params: dict[str, Any], stream: _Stream) -> None:
    results = await view.schema.stream(
        params["query"],
        variable_values=params["variables"],
        context_value=context,
        operation_name=params["operation_name"],
        allowed_operation_types=(OperationType.SUBSCRIPTION,),
    )
    async for body in _bodies(results):
        await stream.write(body)
    await stream.write(b"event: complete\ndata:\n\n")


async def _bodies(results: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    try:
        async for result in results:
            if isinstance(result, ExecutionResult):
                yield encode_next(dict(process_result(result)))
    finally:
        with suppress(Exception):
            await results.aclose()  # type: ignore[attr-defined]


async def _watch_disconnect(receive: Receive, stream: _Stream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.stop("client went away")

"""Which /graphql requests stream (app.http.negotiation), and queries and mutations over SSE.

urql lists `text/event-stream` in the Accept of every query and mutation, beside the JSON
types; those used to be sent to the subscription stream and refused. A request that also
accepts JSON now streams only when it is a subscription, which takes reading its body (kept
and handed on). graphql-sse clients accept only `text/event-stream` and may send any
operation: a query or a mutation runs once and streams one `next` message, then `complete`
(graphql-sse's "distinct connections" mode), with the permissions, limits and cache
invalidation of an HTTP request.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.graphql.cache import read_body, replay
from app.http.middleware import header
from app.http.negotiation import accepts_event_stream, is_subscription, json_media_type
from app.http.state import request_state
from dpo.auth.principal import Principal
from dpo.errors import ErrorCode
from dpo.safe_json import loads
from resolvers.loaders import RequestLoaders
from schema.context import Context

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def _fields(scope: Scope, body: bytes) -> tuple[object, object]:
    """(query, operationName) of a request, or (None, None)."""
    if scope["method"] == "GET":
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return (params.get("query") or [None])[0], (params.get("operationName") or [None])[0]
    try:
        fields = loads(body)
    except ValueError:
        return None, None
    if not isinstance(fields, dict):
        return None, None
    return fields.get("query"), fields.get("operationName")


async def choose_stream(scope: Scope, receive: Receive) -> tuple[bool, Receive]:
    """Whether the request streams, and a receive that still gives its body."""
    accept = header(scope, "accept")
    if scope["method"] not in ("GET", "POST") or not accepts_event_stream(accept):
        return False, receive
    if json_media_type(accept) is None:
        return True, receive
    body = await read_body(receive) if scope["method"] == "POST" else b""
    query, name = _fields(scope, body)
    return is_subscription(query, name), replay(body, receive)


def encode_next(result: dict[str, Any]) -> bytes:
    """One `next` message; an `events` item's cursor becomes its id (for Last-Event-ID)."""
    data = result.get("data")
    edge = data.get("events") if isinstance(data, dict) else None
    cursor = edge.get("cursor") if isinstance(edge, dict) else None
    head = f"id: {cursor}\n" if isinstance(cursor, str) else ""
    return f"{head}event: next\ndata: {json.dumps(result, separators=(',', ':'))}\n\n".encode()


def _refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "data": None,
            "errors": [{"message": message, "extensions": {"code": ErrorCode.VALIDATION.value}}],
        },
        status_code=status,
    )


async def run_once(
    view: Any, request: Request, principal: Principal, params: dict[str, Any], send: Send
) -> None:
    """A query or mutation as one `next` event and `complete`; refusals as a JSON 400."""
    allowed = {OperationType.QUERY} | (
        {OperationType.MUTATION} if request.method == "POST" else set()
    )
    context = Context(
        request=request,
        runtime=request.scope["app"].state.runtime,
        make_loaders=RequestLoaders,
        principal=principal,
        counted=request_state(request.scope).counted,
    )
    try:
        result = await view.schema.execute(
            params["query"],
            variable_values=params["variables"],
            context_value=context,
            operation_name=params["operation_name"],
            allowed_operation_types=allowed,
        )
    except InvalidOperationTypeError as error:
        await _refusal(400, error.as_http_error_reason(request.method))(
            request.scope, request.receive, send
        )
        return
    except CannotGetOperationTypeError as error:
        await _refusal(400, error.as_http_error_reason())(request.scope, request.receive, send)
        return
    body = encode_next(dict(process_result(result))) + b"event: complete\ndata:\n\n"
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    await send({"type": "http.response.body", "body": body})

"""The shape of a GraphQL HTTP request, checked before Strawberry reads it; refusals in JSON.

Strawberry assumes a JSON body is an object (`data.get(...)`), decodes it without catching
invalid UTF-8, and passes `operationName` on whatever its type: a body that is a JSON string,
number or null, bytes that are not UTF-8, or an `operationName` of `[]` reached the server's
error path (HTTP 500, a logged traceback). Here each is a 400. Strawberry's own refusals
(`HTTPException`: bad JSON, unsupported content type, a mutation over GET, batches) come back as
GraphQL-shaped JSON with `extensions.code`, like every other answer of /graphql, instead of
plain text.
"""

from __future__ import annotations

from typing import Any

import orjson
import strawberry.http.async_base_view as strawberry_view
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type as parse_by_email
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from app.http.negotiation import is_subscription
from dpo.errors import ErrorCode, UnsupportedTransportError
from schema.shared_events import encode_message

_CODES = {404: ErrorCode.NOT_FOUND, 429: ErrorCode.RATE_LIMITED}
SUBSCRIPTION_TRANSPORTS = (
    "Subscriptions run over a WebSocket at /graphql (graphql-transport-ws or graphql-ws) or as "
    "Server-Sent Events (a request with Accept: text/event-stream), not as a JSON answer."
)


def error_response(status: int, message: str) -> JSONResponse:
    """A GraphQL-shaped refusal: `{"data": null, "errors": [{message, extensions.code}]}`."""
    code = _CODES.get(status, ErrorCode.VALIDATION)
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code.value}}]},
        status_code=status,
    )


def encode_answer(data: object) -> bytes:
    """A JSON answer's bytes: orjson (C), else the standard library's encoder.

    orjson writes what json.dumps with compact separators writes, except that it leaves
    non-ASCII characters as UTF-8 instead of `\\u` escapes (the same JSON text). It refuses
    integers beyond 64 bits, which json.dumps writes exactly: those answers, and anything
    else it refuses, take the standard library's path.
    """
    try:
        return orjson.dumps(data)
    except TypeError:  # orjson.JSONEncodeError included
        return encode_message(data).encode()


# Strawberry parses every request's Content-Type with `email.message` (~25 Python calls). The
# values nearly every client sends are parsed once, by that same parser, so their answers are
# its own; any other value takes the full parse.
_COMMON_CONTENT_TYPES = {
    value: parse_by_email(value)
    for value in (
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=UTF-8",
    )
}


def parse_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    """Strawberry's parse of a Content-Type, from a table for the common JSON values."""
    common = _COMMON_CONTENT_TYPES.get(content_type)
    if common is None:
        return parse_by_email(content_type)
    return common[0], dict(common[1])


# What its parse_http_body calls (a module global, so it is replaced there).
strawberry_view.parse_content_type = parse_content_type  # type: ignore[attr-defined]


def json_object(value: object) -> Any:
    """`value` if it is a JSON object or array (a batch, refused later); else a 400."""
    if not isinstance(value, (dict, list)):
        raise HTTPException(400, "The request body must be a JSON object")
    return value


class CheckedHttpRequests:
    """Mixed into the GraphQL ASGI view before Strawberry's class."""

    def parse_json(self, data: str | bytes) -> Any:
        """A JSON object or array (a batch, refused later); anything else is a 400."""
        try:
            value = super().parse_json(data)  # type: ignore[misc]
        except (ValueError, RecursionError):  # not UTF-8 (UnicodeDecodeError), too deep
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        return json_object(value)

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parse, then the fields it does not check."""
        parsed: GraphQLRequestData | list[GraphQLRequestData] = await super().parse_http_body(  # type: ignore[misc]
            request
        )
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if not (item.operation_name is None or isinstance(item.operation_name, str)):
                raise HTTPException(400, "operationName must be a string or null")
        return parsed

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, except a subscription is refused: it cannot run as one JSON answer.

        Strawberry executed it as a query (INTERNAL "Cannot return null for non-nullable field
        Subscription.events" and a traceback in the log).
        """
        if is_subscription(request_data.query, request_data.operation_name):
            raise UnsupportedTransportError(SUBSCRIPTION_TRANSPORTS)
        result: ExecutionResult = await super().execute_single(  # type: ignore[misc]
            request, request_adapter, sub_response, context, root_value, request_data
        )
        return result

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's run, its HTTP refusals as JSON."""
        if not isinstance(request, Request):
            return await super().run(request, context, root_value)  # type: ignore[misc]
        try:
            response: Response = await super().run(  # type: ignore[misc]
                request,
                context,
                root_value,
            )
        except HTTPException as error:
            return error_response(error.status_code, error.reason)
        return response

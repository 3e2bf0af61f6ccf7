"""GraphQL requests and WebSocket frames: nesting bound (dpo.safe_json), query length bound.

Strawberry decodes bodies, GET parameters and frames with the standard library's recursive
decoder; the view (app.graphql.view) routes all of them through dpo.safe_json. The query text
is bounded too (MAX_QUERY_CHARS): graphql-core's lexer reads a document character by character
in Python, so a 1 MiB string literal (one token) held the event loop for about a second. Past
either bound an HTTP request gets 400 with a GraphQL-shaped LIMIT_EXCEEDED error, and a
WebSocket (either protocol, signed in or not) is closed with 4400. Other bad JSON keeps
Strawberry's answers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived

from app.subscriptions.ws import connection_of
from dpo.errors import DomainError, LimitExceededError
from dpo.safe_json import JSONTooDeepError, loads

BAD_REQUEST = 4400
REFUSED = 4403  # graphql-transport-ws: connection_init refused
# 2,000 tokens fit in a few kilobytes; long values belong in variables (decoded at C speed).
# Lexing this much takes a few milliseconds.
MAX_QUERY_CHARS = 32_768
_OPERATION_FRAMES = frozenset({"subscribe", "start"})


def too_deep(error: JSONTooDeepError) -> LimitExceededError:
    """The domain error of a document nested past the bound."""
    return LimitExceededError(f"The request nests deeper than {error.max_depth} levels.")


def check_query_length(query: object) -> None:
    """LimitExceededError when a query text is longer than MAX_QUERY_CHARS."""
    if isinstance(query, str) and len(query) > MAX_QUERY_CHARS:
        raise LimitExceededError(
            f"The query is longer than {MAX_QUERY_CHARS:,} characters; "
            "pass long values as variables."
        )


def _frame_query(message: object) -> object:
    """The query of a subscribe (graphql-transport-ws) or start (graphql-ws) frame."""
    if not isinstance(message, dict):
        return None
    kind, payload = message.get("type"), message.get("payload")
    if isinstance(kind, str) and kind in _OPERATION_FRAMES and isinstance(payload, dict):
        return payload.get("query")
    return None


def error_response(error: DomainError, status: int) -> JSONResponse:
    """A GraphQL-shaped error answer, the code where clients read every other one."""
    return JSONResponse(
        {
            "data": None,
            "errors": [{"message": error.message, "extensions": {"code": error.code.value}}],
        },
        status_code=status,
    )


class BoundedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, decoding frames with the nesting bound.

    A frame nested too deep, or an operation whose query is too long, closes the socket with
    4400 on both protocols (graphql-ws would otherwise ignore it as it ignores any frame that
    is not JSON).
    """

    async def close(self, code: int, reason: str) -> None:
        """Strawberry's close; a refused connection_init says why (subscriptions.ws_auth)."""
        connection = connection_of(self.ws.scope) if code == REFUSED else None
        if connection is not None and connection.rejection is not None:
            reason, connection.rejection = connection.rejection, None
        await super().close(code, reason)

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        """Strawberry's loop over text frames, with `loads` and the close on a deep frame."""
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    message = loads(text)
                    check_query_length(_frame_query(message))
                except JSONTooDeepError as error:
                    await self.close(BAD_REQUEST, too_deep(error).message)
                    return
                except LimitExceededError as error:
                    await self.close(BAD_REQUEST, error.message)
                    return
                except ValueError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
                    continue
                yield message
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

"""Decoding GraphQL requests and WebSocket frames with a bound on nesting (dpo.safe_json).

Strawberry decodes bodies, GET parameters and frames with the standard library's recursive
decoder; GraphQLApp routes all of them through `decode`. Past the bound an HTTP request gets
400 with a GraphQL-shaped LIMIT_EXCEEDED error, and a WebSocket (either protocol, signed in or
not) is closed with 4400. Other bad JSON keeps Strawberry's answers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived

from dpo.errors import DomainError, LimitExceededError
from dpo.safe_json import JSONTooDeepError, loads

BAD_REQUEST = 4400


def too_deep(error: JSONTooDeepError) -> LimitExceededError:
    """The domain error of a document nested past the bound."""
    return LimitExceededError(f"The request nests deeper than {error.max_depth} levels.")


def error_response(error: DomainError, status: int) -> JSONResponse:
    """A GraphQL-shaped error answer, the code where clients read every other one."""
    return JSONResponse({"data": None, "errors": [
        {"message": error.message, "extensions": {"code": error.code.value}}]},
        status_code=status)


class BoundedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, decoding frames with the nesting bound.

    A frame nested too deep closes the socket with 4400 on both protocols (graphql-ws would
    otherwise ignore it as it ignores any frame that is not JSON).
    """

    async def iter_json(self, *, ignore_parsing_errors: bool = False
                        ) -> AsyncGenerator[object, None]:
        """Strawberry's loop over text frames, with `loads` and the close on a deep frame."""
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    message = loads(text)
                except JSONTooDeepError as error:
                    await self.close(BAD_REQUEST, too_deep(error).message)
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

"""/graphql's one ASGI entry: it picks the transport — WebSocket, event stream or JSON.

    websocket                      -> app.subscriptions.ws (connection caps, then the view's
                                      graphql-transport-ws / graphql-ws handling)
    http, streams (sse_route's rule) -> app.subscriptions.sse (a subscription, or one `next`)
    http, anything else            -> the response cache (app.graphql.cache), then the view

An HTTP request's refusals (a bad credential, an API key over its limit, a request over a
limit) are answered here with their status, before anything ran; the request's GraphQL
context, if one was made, has its loaders closed once the answer is sent.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from app.graphql.auth import rate_limited_response, unauthenticated_response
from app.graphql.cache import invalidation_of, serve_cached
from app.graphql.input import error_response
from app.graphql.view import GraphQLView
from app.http.ratelimit import settle_pending
from app.http.state import known_state
from app.subscriptions.sse import serve_event_stream
from app.subscriptions.sse_route import choose_stream
from app.subscriptions.ws import serve_websocket
from dpo.errors import (
    LimitExceededError,
    RateLimitedError,
    UnauthenticatedError,
    UnsupportedTransportError,
)


class GraphQLEndpoint:
    """The /graphql route's application (HTTP GET/POST and WebSocket)."""

    def __init__(self, view: GraphQLView) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request or the socket by its transport."""
        if scope["type"] == "websocket":
            await serve_websocket(self.view, self.view.knobs, scope, receive, send)
            return
        try:
            stream, receive = await choose_stream(scope, receive)
            if stream:
                # A stream's answer starts before its operation's charge: the rate limit first.
                await settle_pending(scope)
                await serve_event_stream(self.view, scope, receive, send)
            else:
                await self._json(scope, receive, send)
        except UnauthenticatedError as error:
            await unauthenticated_response(error)(scope, receive, send)
        except RateLimitedError as error:
            await rate_limited_response(error)(scope, receive, send)
        except (LimitExceededError, UnsupportedTransportError) as error:
            await error_response(error, 400)(scope, receive, send)
        finally:
            state = known_state(scope)
            if state is not None and state.context is not None:
                await state.context.close()

    async def _json(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A JSON answer: from the response cache when the application has one."""
        invalidation = invalidation_of(scope)
        if invalidation is None:
            await self.view(scope, receive, send)
        else:
            await serve_cached(
                self.view,
                scope,
                receive,
                send,
                invalidation=invalidation,
                runtime=scope["app"].state.runtime,
            )

"""Strawberry's GraphQL view with our context, JSON decoding and WebSocket hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension

from app.graphql.auth import principal_of
from app.graphql.http import CheckedHttpRequests, encode_answer, json_object
from app.graphql.input import BoundedWebSocketAdapter, check_query_length, too_deep
from app.graphql.schema import build_schema
from app.http.state import request_state
from app.subscriptions.ws import WebSocketSubscriptions
from dpo.runtime import Runtime
from dpo.safe_json import JSONTooDeepError, loads
from dpo.settings.streaming import StreamingSettings
from resolvers.loaders import RequestLoaders
from schema.context import Context
from schema.shared_events import encode_message


class GraphQLView(WebSocketSubscriptions, CheckedHttpRequests, GraphQL[Context, None]):
    """Strawberry's view with our context, for JSON requests and WebSockets (app.endpoint).

    Every body, GET parameter and frame is decoded with a bound on nesting (app.graphql.input);
    the request's shape is checked before Strawberry reads it (app.graphql.http).
    """

    websocket_adapter_class = BoundedWebSocketAdapter

    def __init__(
        self,
        runtime_of: Any,
        *,
        debug: bool,
        knobs: StreamingSettings,
        extensions: Sequence[Callable[[], SchemaExtension]] = (),
    ) -> None:
        super().__init__(
            build_schema(debug=debug, extensions=extensions),
            graphql_ide="graphiql" if debug else None,
            knobs=knobs,
        )
        self._runtime_of = runtime_of

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """Strawberry's JSON answer, encoded by orjson (app.graphql.http.encode_answer)."""
        response = Response(encode_answer(response_data), media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    def encode_json(self, data: object) -> str | bytes:
        """Strawberry's JSON, except a shared subscription payload is spliced in, not re-encoded."""
        return encode_message(data)

    def decode_json(self, data: str | bytes) -> object:
        """JSON with the nesting bound (dpo.safe_json), never the recursive decoder."""
        return loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        """A request's JSON; nested too deep, LimitExceededError (answered 400 by app.endpoint)."""
        try:
            value = loads(data)
        except JSONTooDeepError as error:
            raise too_deep(error) from None
        except ValueError:
            return super().parse_json(data)  # a 400 for bad JSON (app.graphql.http)
        return json_object(value)

    async def parse_http_body(self, request: Any) -> Any:
        """Strawberry's request data; LimitExceededError when the query text is too long."""
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            check_query_length(item.query)
        return data

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        """Give resolvers the request, its caller and the shared resources."""
        runtime = self._runtime_of(request)
        if not isinstance(request, Request):
            # A socket signs in at connection_init (app.subscriptions.ws), which sets its caller.
            return Context(request=request, runtime=runtime, make_loaders=RequestLoaders)
        state = request_state(request.scope)
        # Verified once per request (by the rate limiter or the response cache, if they did).
        principal = await principal_of(request, runtime)
        context = Context(
            request=request,
            runtime=runtime,
            make_loaders=RequestLoaders,
            share_session=True,
            principal=principal,
            counted=state.counted,
        )
        state.context = context  # its session is closed by app.endpoint
        return context


def runtime_of(request: Request | WebSocket) -> Runtime:
    """The application's runtime (opened in its lifespan, app.web)."""
    runtime: Runtime = request.app.state.runtime
    return runtime

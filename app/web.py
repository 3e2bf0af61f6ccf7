"""The Starlette application: GraphQL, health and readiness."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension

from app.drain import Drain
from app.graphql_auth import principal_of, rate_limited_response, unauthenticated_response
from app.graphql_cache import ResponseCacheExtension, invalidation_of, serve_cached
from app.graphql_cost import cost_meter
from app.graphql_http import CheckedHttpRequests, json_object
from app.graphql_input import (
    BoundedWebSocketAdapter,
    check_query_length,
    error_response,
    too_deep,
)
from app.graphql_schema import build_schema
from app.metrics import GraphQLMetrics, metrics_endpoint, refresh_database_gauges
from app.middleware_stack import build_middleware
from app.request_state import known_state, request_state
from app.response_cache import CacheInvalidation, ResponseCache
from app.sse import serve_event_stream
from app.sse_route import choose_stream
from app.webhooks import PATH as BILLBITTS_WEBHOOK
from app.webhooks import billbitts_webhook
from app.ws import WebSocketSubscriptions
from app.ws_caps import ConnectionCaps
from dpo.errors import (
    LimitExceededError,
    RateLimitedError,
    UnauthenticatedError,
    UnsupportedTransportError,
)
from dpo.health import (
    listener_state,
    probe_database,
    probe_redis,
    probe_rpc,
    provider_circuits,
)
from dpo.providers.factory import PROVIDERS, billbitts_client, breakers_for
from dpo.reconciliation.bell import close_bell
from dpo.recursion import RECURSION_LIMIT, restore_recursion_limit
from dpo.runtime import Runtime
from dpo.safe_json import JSONTooDeepError, loads
from dpo.sender.health import sender_state
from dpo.settings import Settings
from dpo.settings.streaming import StreamingSettings
from resolvers.loaders import RequestLoaders
from schema.context import Context
from schema.limits import Limits, limit_extensions

logger = logging.getLogger(__name__)


class GraphQLApp(WebSocketSubscriptions, CheckedHttpRequests, GraphQL[Context, None]):
    """Strawberry's ASGI view with our context; subscriptions over WebSocket (app.ws).

    Every body, GET parameter and frame is decoded with a bound on nesting (app.graphql_input);
    the request's shape is checked before Strawberry reads it (app.graphql_http).
    """

    websocket_adapter_class = BoundedWebSocketAdapter

    def __init__(self, runtime_of: Any, *, debug: bool, knobs: StreamingSettings,
                 extensions: Sequence[Callable[[], SchemaExtension]] = ()) -> None:
        super().__init__(build_schema(debug=debug, extensions=extensions),
                         graphql_ide="graphiql" if debug else None, knobs=knobs)
        self._runtime_of = runtime_of

    def decode_json(self, data: str | bytes) -> object:
        """JSON with the nesting bound (dpo.safe_json), never the recursive decoder."""
        return loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        """A request's JSON; nested too deep, LimitExceededError (answered 400 in __call__)."""
        try:
            value = loads(data)
        except JSONTooDeepError as error:
            raise too_deep(error) from None
        except ValueError:
            return super().parse_json(data)  # a 400 for bad JSON (app.graphql_http)
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
            # A socket signs in at connection_init (app.ws), where its context gets its caller.
            return Context(request=request, runtime=runtime, make_loaders=RequestLoaders)
        state = request_state(request.scope)
        # Verified once per request (by the rate limiter or the response cache, if they did).
        principal = await principal_of(request, runtime)
        context = Context(request=request, runtime=runtime, make_loaders=RequestLoaders,
                          share_session=True, principal=principal, counted=state.counted)
        state.context = context  # its session is closed in __call__
        return context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A bad credential answers 401 before anything runs (get_context raises it).

        A request that streams (app.sse_route) is served by app.sse, the others as JSON,
        through the response cache.
        """
        try:
            if scope["type"] == "http":
                stream, receive = await choose_stream(scope, receive)
                if stream:
                    await serve_event_stream(self, scope, receive, send)
                    return
            invalidation = invalidation_of(scope) if scope["type"] == "http" else None
            if invalidation is None:
                await super().__call__(scope, receive, send)
            else:
                await serve_cached(super().__call__, scope, receive, send,
                                   invalidation=invalidation, runtime=scope["app"].state.runtime)
        except UnauthenticatedError as error:
            await unauthenticated_response(error)(scope, receive, send)
        except RateLimitedError as error:
            await rate_limited_response(error)(scope, receive, send)
        except (LimitExceededError, UnsupportedTransportError) as error:
            await error_response(error, 400)(scope, receive, send)
        finally:
            state = known_state(scope)
            if state is not None and state.context is not None:
                await state.context.loaders.close()


def _runtime(request: Request | WebSocket) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def health(request: Request) -> Response:
    """Liveness, with the state of the database and Redis (the runbook's health path)."""
    runtime = _runtime(request)
    database, redis, circuits, listener, sender = await asyncio.gather(
        probe_database(runtime.engine), probe_redis(runtime.redis),
        provider_circuits(request.app.state.breakers, PROVIDERS),
        listener_state(runtime.engine), sender_state(runtime.engine))
    halted = listener is not None and listener["status"] == "halted"
    status = "ok" if database.ok and redis.ok and not halted else "degraded"
    # A provider's open circuit is reported, never a reason to restart the web service.
    body: dict[str, object] = {"status": status, "database": database.as_dict(),
                               "redis": redis.as_dict(), "providers": circuits}
    if listener is not None:
        body["listener"] = listener  # a halt after a deep reorg: docs/LISTENER.md
    if sender is not None:
        # Reverted or failed intents need a person; not a reason to restart web: docs/SENDER.md
        body["sender"] = sender
    return JSONResponse(body)


async def ready(request: Request) -> Response:
    """Readiness: 200 only when the database and Redis answer; the RPC is reported only.

    The web service serves from PostgreSQL and Redis; a chain outage must not take every
    replica out of rotation, so the RPC's state is in the body but never fails readiness.
    """
    runtime = _runtime(request)
    rpc_urls = [url for url in runtime.settings.rpc_urls() if url.startswith("http")]
    database, redis, *rpc = await asyncio.gather(
        probe_database(runtime.engine), probe_redis(runtime.redis),
        *([probe_rpc(rpc_urls[0])] if rpc_urls else []))
    ok = database.ok and redis.ok
    body: dict[str, object] = {"status": "ready" if ok else "not ready",
                               "database": database.as_dict(), "redis": redis.as_dict()}
    if rpc:
        body["rpc"] = rpc[0].as_dict()
    return JSONResponse(body, status_code=200 if ok else 503)


def limits_of(settings: Settings) -> Limits:
    """The GraphQL limits the settings choose (the rest are schema.limits' defaults)."""
    return Limits(execution_seconds=settings.graphql_execution_seconds,
                  max_cost=settings.graphql_max_cost)


def create_app(settings: Settings, *, database_url: str, redis_url: str) -> Starlette:
    """Build the application for the given settings and server URLs."""

    # Before anything can decode a request: see dpo.recursion.
    restore_recursion_limit()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if sys.getrecursionlimit() != RECURSION_LIMIT:
            # Something imported since create_app raised it again (dpo.recursion).
            logger.warning("recursion limit was raised to %d; setting it back to %d",
                           sys.getrecursionlimit(), RECURSION_LIMIT)
            sys.setrecursionlimit(RECURSION_LIMIT)
        app.state.runtime = Runtime.open(settings, database_url=database_url, redis_url=redis_url)
        # Shared by the replicas through Redis (app.ws_caps); the feed hub is the runtime's.
        app.state.caps = ConnectionCaps(lease_seconds=settings.ws_caps_lease_seconds,
                                        prefix=settings.ws_caps_namespace)
        # The breakers' shared state (in Redis), as the services calling providers left it.
        app.state.breakers = breakers_for(settings, redis_url=redis_url)
        # submitInvestment asks BillBitts for the payment request (dpo.payments.requests);
        # without BILLBITTS_API_KEY orders wait for it (the worker asks once it is set).
        if settings.billbitts_api_key is not None:
            app.state.runtime.billbitts = billbitts_client(settings,
                                                           breakers=app.state.breakers)
        if settings.response_cache:
            app.state.response_cache = CacheInvalidation(ResponseCache(
                max_age=settings.response_cache_max_age,
                max_entries=settings.response_cache_max_entries,
                max_bytes=settings.response_cache_max_bytes), app.state.runtime.redis,
                channels=app.state.runtime.channels)
            app.state.response_cache.start()
        try:
            yield
        finally:
            if settings.response_cache:
                await app.state.response_cache.stop()
            app.state.caps.stop_renewing()
            await close_bell(app.state.runtime.redis)
            await app.state.breakers.aclose()
            await app.state.runtime.close()

    graphql = GraphQLApp(_runtime, debug=settings.debug, knobs=settings,
                         extensions=[GraphQLMetrics,
                                     *limit_extensions(production=settings.is_production,
                                                       limits=limits_of(settings),
                                                       meter=cost_meter(settings)),
                                     *([ResponseCacheExtension] if settings.response_cache
                                       else [])])
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    routes = [
        Route("/api/health/", health, methods=["GET", "HEAD"]),
        Route("/api/ready", ready, methods=["GET", "HEAD"]),
        # The scope's client is already the one our proxy reported (app.forwarded).
        Route("/metrics", metrics_endpoint(token=token, trust_forwarded=False,
                                           refresh=refresh_database_gauges)),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        # Signed by BillBitts (WEBHOOK_SECRET), so not rate-limited per address (app.webhooks).
        Route(BILLBITTS_WEBHOOK, billbitts_webhook, methods=["POST"]),
    ]
    app = Starlette(debug=False, routes=routes, lifespan=lifespan,
                    middleware=build_middleware(settings))
    app.state.drain = Drain()  # event streams end at once on SIGTERM (app.drain)
    return app

"""The Starlette application, composed from the settings: routes, middleware, lifespan.

/graphql is one entry (app.endpoint) that picks the transport; health and readiness are
app.http.health; the lifespan opens the runtime (database, Redis, the feed hub), the provider
breakers, the connection caps and the response cache, and closes them in reverse.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from app.endpoint import GraphQLEndpoint
from app.graphql.cache import ResponseCacheExtension
from app.graphql.cost import cost_meter
from app.graphql.response_cache import CacheInvalidation, ResponseCache
from app.graphql.view import GraphQLView, runtime_of
from app.http.health import health, ready
from app.http.metrics import (
    REGISTRY,
    GraphQLMetrics,
    metrics_endpoint,
    refresh_database_gauges,
)
from app.http.stack import build_middleware
from app.server.drain import Drain
from app.subscriptions.ws_caps import ConnectionCaps
from app.webhooks import PATH as BILLBITTS_WEBHOOK
from app.webhooks import billbitts_webhook
from dpo.providers.factory import billbitts_client, breakers_for
from dpo.reconciliation.bell import close_bell
from dpo.recursion import RECURSION_LIMIT, restore_recursion_limit
from dpo.runtime import Runtime
from dpo.settings import Settings
from schema.limits import Limits, limit_extensions

logger = logging.getLogger(__name__)


def limits_of(settings: Settings) -> Limits:
    """The GraphQL limits the settings choose (the rest are schema.limits' defaults)."""
    return Limits(
        execution_seconds=settings.graphql_execution_seconds, max_cost=settings.graphql_max_cost
    )


def create_app(settings: Settings, *, database_url: str, redis_url: str) -> Starlette:
    """Build the application for the given settings and server URLs."""

    # Before anything can decode a request: see dpo.recursion.
    restore_recursion_limit()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if sys.getrecursionlimit() != RECURSION_LIMIT:
            # Something imported since create_app raised it again (dpo.recursion).
            logger.warning(
                "recursion limit was raised to %d; setting it back to %d",
                sys.getrecursionlimit(),
                RECURSION_LIMIT,
            )
            sys.setrecursionlimit(RECURSION_LIMIT)
        app.state.runtime = Runtime.open(settings, database_url=database_url, redis_url=redis_url)
        # Shared by the replicas through Redis (app.subscriptions.ws_caps); the feed hub is the
        # runtime's.
        app.state.caps = ConnectionCaps(
            lease_seconds=settings.ws_caps_lease_seconds, prefix=settings.ws_caps_namespace
        )
        # The breakers' shared state (in Redis), as the services calling providers left it.
        app.state.breakers = breakers_for(settings, redis_url=redis_url)
        # submitInvestment asks BillBitts for the payment request (dpo.payments.requests);
        # without BILLBITTS_API_KEY orders wait for it (the worker asks once it is set).
        if settings.billbitts_api_key is not None:
            app.state.runtime.billbitts = billbitts_client(settings, breakers=app.state.breakers)
        if settings.response_cache:
            app.state.response_cache = CacheInvalidation(
                ResponseCache(
                    max_age=settings.response_cache_max_age,
                    max_entries=settings.response_cache_max_entries,
                    max_bytes=settings.response_cache_max_bytes,
                ),
                app.state.runtime.redis,
                channels=app.state.runtime.channels,
            )
            app.state.response_cache.start()
        peers = getattr(app.state, "metrics_peers", None)  # one of several workers
        if peers is not None:
            await peers.start(REGISTRY)
        try:
            yield
        finally:
            if peers is not None:
                await peers.stop()
            if settings.response_cache:
                await app.state.response_cache.stop()
            app.state.caps.stop_renewing()
            await close_bell(app.state.runtime.redis)
            await app.state.breakers.aclose()
            await app.state.runtime.close()

    view = GraphQLView(
        runtime_of,
        debug=settings.debug,
        knobs=settings,
        extensions=[
            GraphQLMetrics,
            *limit_extensions(
                production=settings.is_production,
                limits=limits_of(settings),
                meter=cost_meter(settings),
            ),
            *([ResponseCacheExtension] if settings.response_cache else []),
        ],
    )
    graphql = GraphQLEndpoint(view)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    routes = [
        Route("/api/health/", health, methods=["GET", "HEAD"]),
        Route("/api/ready", ready, methods=["GET", "HEAD"]),
        # The scope's client is already the one our proxy reported (app.http.forwarded).
        Route(
            "/metrics",
            metrics_endpoint(token=token, trust_forwarded=False, refresh=refresh_database_gauges),
        ),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        # Signed by BillBitts (WEBHOOK_SECRET), so not rate-limited per address (app.webhooks).
        Route(BILLBITTS_WEBHOOK, billbitts_webhook, methods=["POST"]),
    ]
    app = Starlette(
        debug=False, routes=routes, lifespan=lifespan, middleware=build_middleware(settings)
    )
    app.state.drain = Drain()  # event streams end at once on SIGTERM (app.server.drain)
    return app

"""The order the middleware runs in, built from the settings."""

from __future__ import annotations

from starlette.middleware import Middleware

from app.http.edge import EdgeMiddleware
from app.http.forwarded import ProxyTrust
from app.http.media import GraphQLMediaTypeMiddleware
from app.http.metrics import HttpMetricsMiddleware
from app.http.middleware import (
    BodySizeLimitMiddleware,
    ErrorBoundaryMiddleware,
    ResponseHeadersMiddleware,
)
from app.http.ratelimit import Identify, RateLimitMiddleware, bearer_identity
from app.http.security import effective_allowed_hosts
from dpo.settings import Settings, parse_rate

CORS_MAX_AGE = 600  # seconds a browser may cache a preflight answer
# What browsers' GraphQL clients send: Apollo Client's client awareness and CSRF-prevention
# headers, the last event id a fetch-based SSE client resumes with, graphql-sse's stream token.
CORS_HEADERS = [
    "Accept",
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "X-Api-Key",
    "X-Signature",
    "X-Timestamp",
    "Apollographql-Client-Name",
    "Apollographql-Client-Version",
    "Apollo-Require-Preflight",
    "Last-Event-ID",
    "X-GraphQL-Event-Stream-Token",
]


def build_middleware(settings: Settings, *, identify: Identify | None = None) -> list[Middleware]:
    """Outermost first: the request id wraps everything so refusals are logged with it.

    The proxy's headers are read first, so every later step and the access log see the
    client's address and scheme.
    """
    hosts = effective_allowed_hosts(
        settings.allowed_hosts, debug=settings.debug, production=settings.is_production
    )
    trust = ProxyTrust.from_settings(
        settings.trusted_proxies,
        hops=settings.forwarded_proxy_count,
        header=settings.forwarded_for_header,
    )
    return [
        # The proxy's headers, then the request id and the security headers: one layer.
        Middleware(ResponseHeadersMiddleware, trust=trust),
        Middleware(HttpMetricsMiddleware),
        # Every JSON answer of /graphql, the error boundary's 500 included (app.http.media).
        Middleware(GraphQLMediaTypeMiddleware),
        Middleware(ErrorBoundaryMiddleware),
        # The Host check, HTTPS, then CORS (Starlette's for requests with an Origin): one layer.
        Middleware(
            EdgeMiddleware,
            allowed_hosts=hosts,
            redirect=settings.secure_ssl_redirect,
            hsts_seconds=settings.secure_hsts_seconds,
            cors={
                "allow_origins": settings.cors_allowed_origins,
                "allow_credentials": True,
                "allow_methods": ["GET", "POST", "OPTIONS"],
                "allow_headers": CORS_HEADERS,
                "expose_headers": ["X-Request-ID", "Retry-After", "X-Cache"],
                "max_age": CORS_MAX_AGE,
            },
        ),
        Middleware(
            RateLimitMiddleware,
            user_rate=parse_rate(settings.rate_limit_user),
            anon_rate=parse_rate(settings.rate_limit_anon),
            trust_forwarded=False,  # the scope's client is already the proxy's
            identify=identify or bearer_identity,
        ),
        Middleware(BodySizeLimitMiddleware),
    ]

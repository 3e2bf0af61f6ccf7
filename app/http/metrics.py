"""Prometheus metrics of the web service: HTTP requests, GraphQL operations and errors."""

from __future__ import annotations

import hmac
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types import ExecutionContext, ExecutionResult

from app.http.metric_children import Children
from app.http.ratelimit import client_address
from app.http.state import refused_by_rate_limit
from dpo.auth import metrics as auth_metrics
from dpo.db.models.enums import IntentState
from dpo.errors import ErrorCode
from dpo.health import listener_state
from dpo.providers import metrics as provider_metrics
from dpo.runs import metrics as job_metrics
from dpo.sender.health import sender_state
from schema.shared_extension import SharedExtension

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "dpo_http_requests_total",
    "HTTP requests served.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "dpo_http_request_seconds", "HTTP request latency.", ["route"], registry=REGISTRY
)
# Provider calls, job runs (the runJob mutation) and token checks of this process.
for _collector in (*provider_metrics.COLLECTORS, *job_metrics.COLLECTORS, *auth_metrics.COLLECTORS):
    REGISTRY.register(_collector)
OPERATIONS = Counter(
    "dpo_graphql_operations_total",
    "GraphQL operations executed.",
    ["operation_name", "operation_type"],
    registry=REGISTRY,
)
OPERATION_SECONDS = Histogram(
    "dpo_graphql_operation_seconds",
    "GraphQL operation latency.",
    ["operation_name"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "dpo_graphql_errors_total", "GraphQL errors by extensions.code.", ["code"], registry=REGISTRY
)

METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"})
# Operation names come from clients: only this many distinct names get their own series.
MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")
_KNOWN_CODES = frozenset(code.value for code in ErrorCode)


class NameBudget:
    """First-come label values up to a cap; the rest become "other"."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.seen: set[str] = set()

    def label(self, name: str | None) -> str:
        """The label for an operation name."""
        if not name:
            return "anonymous"
        if not _NAME.match(name):
            return "other"
        if name in self.seen:
            return name
        if len(self.seen) >= self.cap:
            return "other"
        self.seen.add(name)
        return name


OPERATION_NAMES = NameBudget(MAX_OPERATION_NAMES)
_OPERATIONS = Children(OPERATIONS)
_OPERATION_SECONDS = Children(OPERATION_SECONDS)
_ERRORS = Children(ERRORS)
_HTTP_REQUESTS = Children(HTTP_REQUESTS)
_HTTP_SECONDS = Children(HTTP_SECONDS)


def error_code(error: GraphQLError) -> str:
    """The error's code as a bounded label."""
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) and code in _KNOWN_CODES else "OTHER"


class GraphQLMetrics(SharedExtension):
    """Count each operation by name and type, its latency, and its errors by code."""

    def operation(self, context: ExecutionContext) -> Iterator[None]:
        """Measure the whole operation, parse to result."""
        start = time.perf_counter()
        raised: GraphQLError | None = None
        try:
            yield
        except GraphQLError as error:
            raised = error
            raise
        finally:
            _record(context, time.perf_counter() - start, raised)


def _record(context: ExecutionContext, seconds: float, raised: GraphQLError | None) -> None:
    limited = raised is None and getattr(context.result, "errors", None)
    if limited and refused_by_rate_limit(context.context):
        return  # answered 429 instead, counted by HttpMetricsMiddleware
    name = OPERATION_NAMES.label(context.operation_name)
    try:
        kind = context.operation_type.value
    except (RuntimeError, AttributeError, KeyError):
        kind = "unknown"  # the document did not parse
    _OPERATIONS[name, kind].inc()
    _OPERATION_SECONDS[(name,)].observe(seconds)
    result = context.result
    errors = (
        [raised]
        if raised is not None
        else (
            result.errors or []
            if isinstance(result, (GraphQLExecutionResult, ExecutionResult))
            else []
        )
    )
    for error in errors:
        _ERRORS[(error_code(error),)].inc()


class HttpMetricsMiddleware:
    """Count HTTP requests by method, route and status, and time them by route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        status = 500
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # The router's template ("/x/{id}"), not the raw path: bounded label values.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            _HTTP_REQUESTS[method, route, str(status)].inc()
            _HTTP_SECONDS[(route,)].observe(time.perf_counter() - start)
            if status == 429:
                # Refused by the rate limiter before GraphQL ran; still a RATE_LIMITED error.
                _ERRORS[("RATE_LIMITED",)].inc()


# The listener runs in its own process (and exits on a deep reorg): every web replica reports
# its state from PostgreSQL at scrape time, so an alert does not depend on the listener being up.
LISTENER_HALTED = Gauge(
    "dpo_listener_halted",
    "1 while a chain's listener is stopped by a reorg "
    "deeper than its window (recover with dpo listener --rewind).",
    ["chain_id"],
    registry=REGISTRY,
)
LISTENER_CHECKPOINT = Gauge(
    "dpo_listener_checkpoint_block",
    "Last block the chain's listener committed.",
    ["chain_id"],
    registry=REGISTRY,
)


async def refresh_listener_gauges(request: Request) -> None:
    """Set the listener gauges from the checkpoints in PostgreSQL (skipped if unreadable)."""
    state = await listener_state(request.app.state.runtime.engine)
    chains = state["chains"] if state is not None else []
    assert isinstance(chains, list)
    for chain in chains:
        label = str(chain["chain_id"])
        LISTENER_HALTED.labels(chain_id=label).set(1 if "halted_at" in chain else 0)
        LISTENER_CHECKPOINT.labels(chain_id=label).set(chain["last_block"])


# The sender's intents, read from PostgreSQL at scrape time like the listener's state
# (dpo/sender/health.py): reverted or failed intents need a person; old open ones mean a
# sender that is down or stuck at its fee cap.
SENDER_INTENTS = Gauge(
    "dpo_sender_intents",
    "Chain intents of the platform wallet by state.",
    ["state"],
    registry=REGISTRY,
)
SENDER_OLDEST_OPEN = Gauge(
    "dpo_sender_oldest_open_seconds",
    "Age of the oldest pending or in-flight chain intent (0: none).",
    registry=REGISTRY,
)


async def refresh_sender_gauges(request: Request) -> None:
    """Set the sender gauges from chain_intents (skipped if unreadable)."""
    state = await sender_state(request.app.state.runtime.engine)
    if state is None:
        return
    counts = state["intents"]
    assert isinstance(counts, dict)
    for name in IntentState:
        SENDER_INTENTS.labels(state=name.value).set(counts.get(name.value, 0))
    oldest = state["oldest_open_seconds"]
    assert isinstance(oldest, float)
    SENDER_OLDEST_OPEN.set(oldest)


# Read from PostgreSQL, the same in every worker: given once, not per worker (app.http.peers).
SHARED = frozenset(
    {"dpo_listener_halted", "dpo_listener_checkpoint_block", "dpo_sender_intents"}
    | {"dpo_sender_oldest_open_seconds"}
)


async def refresh_database_gauges(request: Request) -> None:
    """The gauges every replica reads from PostgreSQL before a scrape."""
    await refresh_listener_gauges(request)
    await refresh_sender_gauges(request)


def is_private(address: str) -> bool:
    """Whether an address is loopback or on a private network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def metrics_endpoint(
    *,
    token: str | None,
    trust_forwarded: bool,
    refresh: Callable[[Request], Awaitable[None]] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """The /metrics view: from a private address, or anywhere with the bearer token.

    `refresh` updates gauges read from the database before each scrape.
    """

    async def metrics(request: Request) -> Response:
        """Prometheus text exposition."""
        given = request.headers.get("authorization", "")
        authorised = token is not None and hmac.compare_digest(
            given.encode(), f"Bearer {token}".encode()
        )
        address = client_address(request.scope, trust_forwarded=trust_forwarded)
        if not authorised and not is_private(address):
            return PlainTextResponse("Forbidden\n", status_code=403)
        if refresh is not None:
            await refresh(request)
        text = generate_latest(REGISTRY)
        peers = getattr(request.app.state, "metrics_peers", None)
        if peers is not None:  # one of several workers (app.http.peers)
            text = await peers.gather(text, SHARED)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return metrics

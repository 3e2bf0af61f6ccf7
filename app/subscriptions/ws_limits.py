"""Rate limits of operations over WebSocket: each one counted like an HTTP request.

Apollo Client and urql with a WebSocket-only link (graphql-ws's `createClient` for every
operation) send queries and mutations over the socket, so the socket serves them rather than
refusing them, and counts each `subscribe` (graphql-transport-ws) or `start` (graphql-ws) in
the bucket the same caller's HTTP requests use: `user:<id>` / `wallet:<address>` at
RATE_LIMIT_USER (a socket is always signed in). An operation over the limit ends with the
protocol's `error` message carrying `extensions.code` RATE_LIMITED and `retryAfter`, as the
HTTP 429's body does; the socket stays open. Sign-in steps are also counted per address and
per account by their resolvers (dpo.ratelimit.limit_sign_in), on every transport.
"""

from __future__ import annotations

from graphql import GraphQLError

from app.http.metrics import ERRORS
from dpo.errors import ErrorCode
from dpo.ratelimit import RateLimiter
from dpo.settings import parse_rate
from schema.context import Context


async def operation_refusal(context: Context) -> GraphQLError | None:
    """Count one operation of a socket; the error to send instead when it is over the limit."""
    runtime = context.runtime
    principal = context.principal
    settings = runtime.settings
    if principal.is_authenticated:
        key, rate = principal.actor, parse_rate(settings.rate_limit_user)
    else:  # not reached today: a socket signs in before its first operation
        client = context.request.scope.get("client")
        key = f"anon:{client[0] if client else 'unknown'}"
        rate = parse_rate(settings.rate_limit_anon)
    decision = await RateLimiter(runtime.redis).hit(key, rate=rate)
    if decision.allowed:
        return None
    ERRORS.labels(ErrorCode.RATE_LIMITED.value).inc()
    return GraphQLError(
        f"Too many requests; retry in {decision.retry_after} s.",
        extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": decision.retry_after},
    )

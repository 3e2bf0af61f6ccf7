"""Each caller's query budget per minute, in Redis so every replica draws on the same one.

The cost of an operation (schema.cost) is taken from a GCRA bucket of GRAPHQL_COST_PER_MINUTE
units (dpo.ratelimit, weighted): a caller who spent it waits until enough has flowed back. The
caller is the principal (user, wallet, API key) when signed in, else the client address as the
rate limiter sees it. Redis unreachable: the operation runs (as with the rate limiter) and its
answer says the remaining budget is not known.

An HTTP request's rate-limit hit, left pending by the middleware (app.http.ratelimit), is made
in the same Redis call as the charge (dpo.ratelimit `hit_and_spend`): one round trip for both.
"""

from __future__ import annotations

from strawberry.types import ExecutionContext

from app.http.ratelimit import client_address
from app.http.state import known_state
from dpo.ratelimit import RateLimiter
from dpo.settings import Settings
from schema.budget import Meter, Spent
from schema.context import Context

PREFIX = "dpo:cost:"


def caller_key(context: Context) -> str:
    """Whose budget an operation draws on."""
    principal = context.principal
    if principal.is_authenticated:
        return principal.actor
    # The scope's client is already the proxy's entry (app.http.forwarded), as for the rate limiter.
    return "anon:" + client_address(context.request.scope, trust_forwarded=False)


def cost_meter(settings: Settings) -> Meter:
    """The meter for build_schema's QueryBudget, at GRAPHQL_COST_PER_MINUTE."""
    budget = (settings.graphql_cost_per_minute, 60)
    # The limiter of the last Redis client seen (the runtime's, opened once in the lifespan):
    # building one registers its script, a SHA-1 of the Lua text, which every operation paid.
    cached: list[tuple[object, RateLimiter]] = []

    async def meter(execution: ExecutionContext, cost: int) -> Spent:
        context = execution.context
        if not isinstance(context, Context):  # only our views execute operations
            return Spent(allowed=True, remaining=None, per_minute=budget[0])
        redis = context.runtime.redis
        if not cached or cached[0][0] is not redis:
            cached[:] = [(redis, RateLimiter(redis, prefix=PREFIX))]
        state = known_state(context.request.scope)
        pending = state.pending if state is not None else None
        if pending is None:
            decision = await cached[0][1].spend(caller_key(context), budget=budget, weight=cost)
        else:
            # The rate limiter's hit of this request, made in the same Redis call.
            assert state is not None
            state.pending = None
            limiter, key, rate = pending
            hit, spent = await limiter.hit_and_spend(
                key, rate=rate, budget_key=PREFIX + caller_key(context), budget=budget, weight=cost
            )
            if spent is None:
                # Refused by the rate limit: nothing runs, and its 429 replaces the answer.
                state.limited = hit
                return Spent(
                    allowed=False,
                    remaining=None,
                    per_minute=budget[0],
                    retry_after=hit.retry_after,
                )
            decision = spent
        return Spent(
            allowed=decision.allowed,
            remaining=None if decision.degraded else decision.remaining,
            per_minute=budget[0],
            retry_after=decision.retry_after,
        )

    return meter

"""What the steps of one HTTP request hand each other, typed and declared in one place.

ASGI gives the middleware and the application one channel, the request's scope. Everything a
step of a /graphql request learns for a later one lives in one `RequestState`, reached only
through `request_state(scope)`: the rate-limit middleware records the bucket it counts (and
the hit it leaves to the query budget's Redis call) and the caller it verified, the response
cache marks whether the answer may be stored, the view keeps the GraphQL context whose loaders
it closes. The GraphQL layer gets what it needs as typed
fields of its context (schema.context.Context), never from the scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from dpo.auth.principal import Principal
from dpo.errors import UnauthenticatedError
from dpo.ratelimit import Decision, RateLimiter
from schema.context import Context

# Starlette's per-request state dict (scope["state"]) holds our one object under this name.
_KEY = "dpo.request"


@dataclass(slots=True)
class RequestState:
    """One HTTP request's shared facts; every field starts unknown (None)."""

    # The caller, once a step verified the request's credential (app.graphql.auth): the rate
    # limiter for a bearer token, else the first to ask; never verified a second time.
    principal: Principal | None = None
    # The credential's refusal, once a step found it bad: the 401 without a second look.
    refusal: UnauthenticatedError | None = None
    # The rate-limit bucket the middleware counted the request in (e.g. "anon:203.0.113.9").
    counted: str | None = None
    # The hit of that bucket, (limiter, key, rate), while it is still to be made: the query budget's
    # charge makes it in the same Redis call (app.graphql.cost), else the rate limiter makes it
    # before the answer starts (app.http.ratelimit).
    pending: tuple[RateLimiter, str, tuple[int, int]] | None = None
    # That hit's refusal, once made: the rate limiter answers 429 instead of the answer.
    limited: Decision | None = None
    # Set by the response cache when it may store the answer (False), then by its extension:
    # True when the executed query's answer is storable.
    storable: bool | None = None
    # The GraphQL context of the request; the view closes its loaders when it has answered.
    context: Context | None = None


def request_state(scope: Scope) -> RequestState:
    """The request's state, created on first use."""
    state = scope.setdefault("state", {})
    found = state.get(_KEY)
    if not isinstance(found, RequestState):
        found = state[_KEY] = RequestState()
    return found


def known_state(scope: Scope) -> RequestState | None:
    """The request's state if a step created it (a WebSocket's scope has none)."""
    found = scope.get("state", {}).get(_KEY)
    return found if isinstance(found, RequestState) else None


def refused_by_rate_limit(context: object) -> bool:
    """Whether a GraphQL context's HTTP request was refused by the rate limit in the query
    budget's Redis call (app.graphql.cost): its answer is the 429, as if nothing had run."""
    scope = getattr(getattr(context, "request", None), "scope", None)
    state = known_state(scope) if isinstance(scope, dict) else None
    return state is not None and state.limited is not None

"""Per-client rate limiting of the API in front of GraphQL, as pure ASGI."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.middleware import header, json_response
from app.http.state import RequestState, known_state, request_state
from dpo.auth.api_keys import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from dpo.auth.authenticate import bearer_caller
from dpo.errors import DomainError, ErrorCode, RateLimitedError, UnauthenticatedError
from dpo.ratelimit import RateLimiter, RefusedBuckets, refusal
from dpo.runtime import Runtime
from dpo.settings import ConfigError, parse_rate

logger = logging.getLogger(__name__)

# Resolves a verified caller key such as "user:42" from the request, or None if anonymous.
# Keys of callers never start with "anon:", so users and addresses never share a bucket.
Identify = Callable[[Scope], Awaitable[str | None]]
LIMITED_PATHS = ("/graphql",)
API_KEY_HEADERS = {name.encode() for name in (KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)}


def client_address(scope: Scope, *, trust_forwarded: bool) -> str:
    """The caller's address: the ASGI scope's client, set from a trusted proxy's headers by
    app.http.forwarded (the application's outermost middleware).

    `trust_forwarded` reads the last `X-Forwarded-For` entry here instead, for a scope that did
    not pass through that middleware (the web app always passes False).
    """
    if trust_forwarded:
        forwarded = header(scope, "x-forwarded-for")
        if forwarded:
            last = forwarded.split(",")[-1].strip()
            if last:
                return last
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def bearer_identity(scope: Scope) -> str | None:
    """The verified caller of a bearer-token request, e.g. "user:42"; None otherwise.

    Access tokens verify without I/O, so checking one here is cheap; the outcome, the caller or
    the refusal, is kept in the request's state (app.http.state) for the GraphQL view, which
    never verifies the token again. API-key requests are not counted here: their signature
    covers the body and is single-use, so only the GraphQL view can verify it; it counts them
    once verified (see limit_api_key_call). A bad token is counted per address (it gets a 401).
    """
    authorization = header(scope, "authorization")
    runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
    if not authorization or runtime is None:
        return None
    try:
        principal = bearer_caller(authorization, settings=runtime.settings)
    except UnauthenticatedError as error:
        if not _has_api_key(scope):  # with both, the view refuses the pair, not the token
            request_state(scope).refusal = error
        return None
    except (DomainError, ConfigError):
        return None
    if not _has_api_key(scope):
        request_state(scope).principal = principal
    return principal.actor if principal.is_authenticated else None


def _has_api_key(scope: Scope) -> bool:
    # One comprehension, not a generator resumed per header (two Python calls each).
    return not API_KEY_HEADERS.isdisjoint([name for name, _ in scope.get("headers", ())])


async def limit_api_key_call(scope: Scope, runtime: Runtime, *, prefix: str | None) -> None:
    """Count a request that carried an API key; RateLimitedError when over the limit.

    A verified key (`prefix`) is counted against the key at RATE_LIMIT_USER, whatever the
    address it calls from; a key that failed to verify (`prefix` None) against the client
    address at RATE_LIMIT_ANON, so forged signatures are throttled like any anonymous caller.
    """
    limiter = RateLimiter(runtime.redis)  # registering the script is local work, no I/O
    settings = runtime.settings
    if prefix is not None:
        decision = await limiter.hit(f"key:{prefix}", rate=parse_rate(settings.rate_limit_user))
    else:
        address = client_address(scope, trust_forwarded=False)
        decision = await limiter.hit(f"anon:{address}", rate=parse_rate(settings.rate_limit_anon))
    if not decision.allowed:
        logger.info("rate limit exceeded; retry after %d s", decision.retry_after)
        raise RateLimitedError(
            f"Too many requests; retry in {decision.retry_after} s.",
            retry_after=decision.retry_after,
        )


def rate_limited_body(retry_after: int) -> bytes:
    """The GraphQL-shaped error body of a 429."""
    return json.dumps(
        {
            "data": None,
            "errors": [
                {
                    "message": f"Too many requests; retry in {retry_after} s.",
                    "extensions": {"code": ErrorCode.RATE_LIMITED.value, "retryAfter": retry_after},
                }
            ],
        }
    ).encode()


async def settle_pending(scope: Scope) -> None:
    """Make the rate-limit hit the middleware left pending, alone; RateLimitedError if refused.

    For the answers that do not go through the query budget's charge (which makes the hit in
    its own Redis call), e.g. event streams, before they start.
    """
    state = known_state(scope)
    if state is None or state.pending is None:
        return
    limiter, key, rate = state.pending
    state.pending = None
    decision = await limiter.hit(key, rate=rate)
    if not decision.allowed:
        state.limited = decision
        raise refusal(decision)


async def _send_refusal(send: Send, retry_after: int) -> None:
    logger.info("rate limit exceeded; retry after %d s", retry_after)
    await json_response(
        send, 429, rate_limited_body(retry_after), [(b"retry-after", str(retry_after).encode())]
    )


class RateLimitMiddleware:
    """Count API requests per user (RATE_LIMIT_USER) or per address (RATE_LIMIT_ANON).

    The caller and its bucket are found here, before the body is read, but the hit is left
    pending (app.http.state): the query budget charges an operation's cost after validation,
    and makes the hit in that same Redis call (app.graphql.cost), so a request costs one
    round trip, not two. A request that reaches no charge (an error, a cached answer, a
    refusal) has its hit made here when its answer starts; a refusal replaces the answer with
    the 429, so nothing of a refused request reaches the client, and nothing runs: operations
    execute only after the charge. A refusal is remembered until Redis would allow the bucket
    again (a refused request moves nothing, so Redis would refuse every request till then):
    a client over its limit is refused here, before its body is read, without a round trip.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        user_rate: tuple[int, int],
        anon_rate: tuple[int, int],
        trust_forwarded: bool,
        identify: Identify | None = None,
    ) -> None:
        self.app = app
        self.user_rate = user_rate
        self.anon_rate = anon_rate
        self.trust_forwarded = trust_forwarded
        self.identify = identify
        self._limiter: RateLimiter | None = None
        self._refused = RefusedBuckets()

    def _limiter_for(self, scope: Scope) -> RateLimiter | None:
        if self._limiter is None:
            runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
            if runtime is not None:
                self._limiter = RateLimiter(runtime.redis)
        return self._limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") == "OPTIONS"
            or scope.get("path") not in LIMITED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        limiter = self._limiter_for(scope)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        if _has_api_key(scope) and header(scope, "authorization") is None:
            # Counted against the key (or the address if it fails) once verified.
            await self.app(scope, receive, send)
            return
        user = await self.identify(scope) if self.identify is not None else None
        if user is not None:
            key, rate = user, self.user_rate
        else:
            address = client_address(scope, trust_forwarded=self.trust_forwarded)
            key, rate = f"anon:{address}", self.anon_rate
        state = request_state(scope)
        state.counted = key
        retry_after = self._refused.retry_after(key)
        if retry_after:
            await _send_refusal(send, retry_after)
            return
        state.pending = (limiter, key, rate)
        started = False

        async def limited_send(message: Message) -> None:
            nonlocal started
            if not started:
                started = True
                if await self._refuses(state, key, send):
                    return
            elif state.limited is not None:
                return  # the 429 went instead of this answer
            await send(message)

        try:
            await self.app(scope, receive, limited_send)
        except Exception:
            # The request would have been refused before it ran: the 429, not the failure.
            if not started and await self._refuses(state, key, send):
                return
            raise
        if not started:
            await self._refuses(state, key, send)

    async def _refuses(self, state: RequestState, key: str, send: Send) -> bool:
        """Make the pending hit if it still is; on a refusal send the 429 and say so."""
        if state.pending is not None:
            limiter, _, rate = state.pending
            state.pending = None
            decision = await limiter.hit(key, rate=rate)
            if not decision.allowed:
                state.limited = decision
        limited = state.limited
        if limited is None:
            return False
        self._refused.remember(key, limited.wait_ms)
        await _send_refusal(send, limited.retry_after)
        return True

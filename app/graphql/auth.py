"""The caller of a GraphQL request; the 401 when their credential is bad, the 429 of API keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from app.http.ratelimit import limit_api_key_call, rate_limited_body
from app.http.state import request_state
from dpo.auth.api_keys import has_api_key_headers
from dpo.auth.authenticate import authenticate
from dpo.auth.principal import ANONYMOUS, Principal
from dpo.auth.stream_tickets import refuse_ticket
from dpo.errors import RateLimitedError, UnauthenticatedError
from dpo.runtime import Runtime


def signed_path(request: Request) -> str:
    """The request target as the client sent (and signed) it, query string included."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


async def principal_of(request: Request | WebSocket, runtime: Runtime) -> Principal:
    """The caller of an HTTP request; WebSockets start anonymous and sign in on connection.

    Verified once per request: the outcome is kept in the request's state (app.http.state),
    where the rate limiter may have put it already, and every later step reads it there.
    """
    if isinstance(request, WebSocket):
        return ANONYMOUS
    # Event streams redeem tickets before this (app.subscriptions.stream_auth); anywhere else
    # one is refused.
    refuse_ticket(request.scope.get("query_string", b""))
    state = request_state(request.scope)
    if state.refusal is not None:
        raise state.refusal
    if state.principal is not None:
        return state.principal
    try:
        state.principal = await _verify(request, runtime)
    except UnauthenticatedError as error:
        state.refusal = error
        raise
    return state.principal


async def _verify(request: Request, runtime: Runtime) -> Principal:
    if not has_api_key_headers(request.headers) or "authorization" in request.headers:
        return await authenticate(
            request.headers,
            method=request.method,
            path=signed_path(request),
            runtime=runtime,
            body=request.body,
        )
    # An API-key call is counted here, once its signature is checked (the middleware cannot).
    try:
        principal = await authenticate(
            request.headers,
            method=request.method,
            path=signed_path(request),
            runtime=runtime,
            body=request.body,
        )
    except UnauthenticatedError:
        await limit_api_key_call(request.scope, runtime, prefix=None)
        raise
    await limit_api_key_call(request.scope, runtime, prefix=principal.api_key_prefix)
    return principal


def rate_limited_response(error: RateLimitedError) -> Response:
    """The 429 of an API-key call over its limit, shaped as the middleware's."""
    return Response(
        rate_limited_body(error.retry_after),
        status_code=429,
        media_type="application/json",
        headers={"Retry-After": str(error.retry_after)},
    )


def unauthenticated_response(error: UnauthenticatedError) -> JSONResponse:
    """A GraphQL-shaped 401, so clients read the code where they read every other one."""
    extensions = {"code": error.code.value}
    if isinstance(error.details.get("reason"), str):
        extensions["reason"] = error.details["reason"]  # e.g. why a stream ticket was refused
    return JSONResponse(
        {"data": None, "errors": [{"message": error.message, "extensions": extensions}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )

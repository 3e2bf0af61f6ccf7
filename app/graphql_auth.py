"""The caller of a GraphQL request, and the 401 answer when their credential is bad."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from dpo.auth.authenticate import authenticate
from dpo.auth.principal import ANONYMOUS, Principal
from dpo.errors import UnauthenticatedError
from dpo.runtime import Runtime


def signed_path(request: Request) -> str:
    """The request target as the client sent (and signed) it, query string included."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


async def principal_of(request: Request | WebSocket, runtime: Runtime) -> Principal:
    """The caller of an HTTP request; WebSockets start anonymous and sign in on connection."""
    if isinstance(request, WebSocket):
        return ANONYMOUS
    return await authenticate(request.headers, method=request.method, path=signed_path(request),
                              runtime=runtime, body=request.body)


def unauthenticated_response(error: UnauthenticatedError) -> JSONResponse:
    """A GraphQL-shaped 401, so clients read the code where they read every other one."""
    return JSONResponse(
        {"data": None,
         "errors": [{"message": error.message, "extensions": {"code": error.code.value}}]},
        status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

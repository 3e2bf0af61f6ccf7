"""Turn a request's credentials into a Principal: bearer token, API key, or none.

`Authorization: Bearer <access token>` gives the token's principal without touching the
database. The three API-key headers (see dpo.auth.api_keys) give a service principal. No
credential gives ANONYMOUS. A credential that is present but wrong raises
UnauthenticatedError rather than falling back to ANONYMOUS, so a client with an expired
token learns to refresh instead of silently seeing less.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from dpo.auth.api_keys import has_api_key_headers, verify_request
from dpo.auth.principal import ANONYMOUS, Principal
from dpo.auth.tokens import verify_access_token
from dpo.db.session import unit_of_work
from dpo.errors import UnauthenticatedError
from dpo.runtime import Runtime
from dpo.settings import Settings

MAX_TOKEN_LENGTH = 4096


async def _no_body() -> bytes:
    return b""


def bearer_caller(authorization: str, *, settings: Settings) -> Principal:
    """The caller an `Authorization: Bearer <access token>` header names (no I/O).

    UnauthenticatedError for another scheme, a missing or oversized token, or a token that is
    not valid now.
    """
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise UnauthenticatedError("the Authorization header must be 'Bearer <token>'")
    return verify_access_token(token, settings=settings)


async def authenticate(
    request_headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    runtime: Runtime,
    body: Callable[[], Awaitable[bytes]] = _no_body,
) -> Principal:
    """The caller of a request; `body` is read only for API-key signatures.

    `request_headers` must look names up case-insensitively (Starlette's Headers do); `path`
    is the request target with its query string, as the client signed it.
    """
    authorization = request_headers.get("authorization")
    with_key = has_api_key_headers(request_headers)
    if authorization is not None and with_key:
        raise UnauthenticatedError("send a bearer token or an API key, not both")
    if authorization is not None:
        return bearer_caller(authorization, settings=runtime.settings)
    if with_key:
        async with unit_of_work(runtime.sessions) as session:
            return await verify_request(
                session,
                runtime.redis,
                settings=runtime.settings,
                headers=request_headers,
                method=method,
                path=path,
                body=await body(),
            )
    return ANONYMOUS

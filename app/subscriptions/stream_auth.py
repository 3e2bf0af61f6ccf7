"""Who opens an event stream: the HTTP credential, or a stream ticket in `?ticket=`.

A browser's EventSource cannot send `Authorization`, so it opens `/graphql?ticket=...` with a
ticket from the `streamTicket` mutation (dpo.auth.stream_tickets). The ticket is redeemed
once; the stream then runs as the caller the ticket was issued to and ends when that
caller's access token would have expired. A request carrying a ticket and a credential is
refused (which one would it be?), and so is a ticket anywhere but on an event stream
(`refuse_ticket`), so a ticket can never stand in for a bearer token.
"""

from __future__ import annotations

import time

from starlette.requests import Request

from app.graphql.auth import principal_of
from dpo.auth.api_keys import has_api_key_headers
from dpo.auth.principal import Principal
from dpo.auth.stream_tickets import bearer_expiry, redeem, ticket_key, ticket_of
from dpo.auth.tokens import signing_key
from dpo.errors import UnauthenticatedError
from dpo.runtime import Runtime


async def stream_caller(request: Request, runtime: Runtime) -> tuple[Principal, float | None]:
    """The caller of a stream request and when the stream must end (None: never).

    UnauthenticatedError (a TicketError for a bad ticket, with `reason`) for the 401.
    """
    ticket = ticket_of(request.scope.get("query_string", b""))
    if ticket is None:
        principal = await principal_of(request, runtime)
        return principal, bearer_expiry(request.headers)
    if "authorization" in request.headers or has_api_key_headers(request.headers):
        raise UnauthenticatedError(
            "send a stream ticket or a credential, not both", reason="ticket_and_credential"
        )
    key = ticket_key(signing_key(runtime.settings))
    redeemed = await redeem(runtime.redis, key, ticket, now=time.time())
    return redeemed.principal, redeemed.ends_at

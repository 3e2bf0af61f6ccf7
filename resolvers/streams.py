"""The stream ticket mutation: a browser's credential for opening an event stream.

Why a ticket and not a cookie: docs/AUTH.md ("Event streams in a browser").
"""

from __future__ import annotations

import datetime as dt
import time

import strawberry
from starlette.requests import Request

from dpo.auth import stream_tickets
from dpo.auth.tokens import signing_key
from dpo.errors import ValidationError
from schema.auth import StreamTicket
from schema.context import Info


async def resolve_stream_ticket(info: Info) -> StreamTicket:
    """A ticket for the caller, valid TICKET_SECONDS, for one event stream."""
    request, runtime = info.context.request, info.context.runtime
    if not isinstance(request, Request):
        # A socket's access token is in its connection_init, not in a header to read the
        # expiry from; and a socket has no use for a ticket.
        raise ValidationError("ask for a stream ticket over HTTP", reason="http_only")
    ticket = await stream_tickets.mint(
        runtime.redis,
        stream_tickets.ticket_key(signing_key(runtime.settings)),
        info.context.principal,
        now=time.time(),
        ends_at=stream_tickets.bearer_expiry(request.headers),
    )
    return StreamTicket(
        ticket=ticket.value, expires_at=dt.datetime.fromtimestamp(ticket.expires_at, dt.UTC)
    )


@strawberry.type
class StreamMutation:
    stream_ticket: StreamTicket = strawberry.mutation(
        resolver=resolve_stream_ticket,
        description="A single-use ticket, valid 60 seconds, that opens one event stream as you: "
        "GET /graphql?ticket=<ticket>&query=... with Accept: text/event-stream "
        "(a browser's EventSource). Not a bearer token: queries and mutations "
        "refuse it. Needs a signed-in caller.",
    )

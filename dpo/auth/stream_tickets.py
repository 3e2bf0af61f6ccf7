"""Stream tickets: a short-lived, single-use credential that opens one event stream.

A browser's EventSource cannot send `Authorization`, so a signed-in client asks for a ticket
(the `streamTicket` mutation) and opens `/graphql?ticket=<ticket>&query=...`. The ticket is
opaque: `st1_` and the URL-safe base64 of its expiry (8 bytes), 16 random bytes, and the first
16 bytes of an HMAC-SHA256 over both under a key derived from DJANGO_SECRET_KEY. The caller it
was issued to is kept in Redis under the random part, never in the ticket, so a ticket in a
URL, a log or a browser's history names nobody. Redeeming checks the shape, the HMAC and the
expiry without Redis, then takes the record with GET and DEL in one transaction: of two uses,
exactly one gets the principal, and the other learns the ticket was used.

What a ticket is not: it is no bearer token (the `Authorization` header and every query or
mutation refuse it: it never passes dpo.auth.tokens' checks) and it opens subscriptions only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
import redis.asyncio as aioredis

from dpo.auth.principal import Kind, Principal
from dpo.errors import UnauthenticatedError

PARAMETER = "ticket"  # the query parameter a ticket travels in
PREFIX = "st1_"
TICKET_SECONDS = 60
# Shape: prefix + base64 of 8 + 16 + 16 bytes, without padding.
TICKET_LENGTH = len(PREFIX) + 54
_CONTEXT = b"dpo stream ticket v1"
_KEY = "dpo:stream-ticket:"


class TicketError(UnauthenticatedError):
    """A ticket that cannot open a stream; `reason` says why (invalid, expired, used)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Ticket:
    """A freshly minted ticket: give `value` to the client."""

    value: str
    expires_at: int  # unix seconds


@dataclass(frozen=True)
class Redeemed:
    """Whom a redeemed ticket was issued to, and until when their stream may run."""

    principal: Principal
    ends_at: float | None  # the issuing access token's expiry; None for API keys


def ticket_of(query_string: bytes) -> str | None:
    """The ticket in a request's query string, if any (the first, if repeated)."""
    if not query_string:
        return None
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get(PARAMETER)
    return values[0] if values else None


def refuse_ticket(query_string: bytes) -> None:
    """UnauthenticatedError for a request that carries a ticket but is no event stream."""
    if ticket_of(query_string) is not None:
        raise UnauthenticatedError(
            "a stream ticket only opens an event stream (GET with Accept: text/event-stream); "
            "send the access token as Authorization: Bearer",
            reason="ticket_not_accepted",
        )


def bearer_expiry(headers: Mapping[str, str]) -> float | None:
    """When a request's bearer token expires (verified already); None without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    expires = jwt.decode(token.strip(), options={"verify_signature": False}).get("exp")
    return float(expires) if isinstance(expires, (int, float)) else None


def ticket_key(secret: str) -> bytes:
    """The HMAC key of tickets, derived from the secret key (never the key itself)."""
    return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:16]


def encode(key: bytes, *, expires_at: int, nonce: bytes) -> str:
    """The ticket text of an expiry and a 16-byte nonce."""
    body = struct.pack(">Q", expires_at) + nonce
    return PREFIX + base64.urlsafe_b64encode(body + _tag(key, body)).decode().rstrip("=")


def check(key: bytes, value: object, *, now: float) -> str:
    """The Redis name of a well-formed, authentic, unexpired ticket; TicketError otherwise."""
    if not isinstance(value, str) or len(value) != TICKET_LENGTH or not value.startswith(PREFIX):
        raise TicketError("invalid", "not a stream ticket")
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX) :] + "==")
    except (binascii.Error, ValueError):
        raise TicketError("invalid", "not a stream ticket") from None
    body, tag = raw[:24], raw[24:]
    # Canonical only: base64's spare bits in the last character must not make a second
    # spelling of one ticket.
    canonical = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    if (
        len(raw) != 40
        or canonical != value[len(PREFIX) :]
        or not hmac.compare_digest(tag, _tag(key, body))
    ):
        raise TicketError("invalid", "not a stream ticket")
    (expires_at,) = struct.unpack(">Q", body[:8])
    if now >= expires_at:
        raise TicketError("expired", "stream ticket expired: ask for a new one (streamTicket)")
    return _KEY + body[8:].hex()


def _principal_json(principal: Principal) -> dict[str, Any]:
    fields = asdict(principal)
    fields["kind"] = principal.kind.value
    fields["scopes"] = sorted(principal.scopes)
    return fields


def _principal_of(fields: dict[str, Any]) -> Principal:
    return Principal(
        **{**fields, "kind": Kind(fields["kind"]), "scopes": frozenset(fields["scopes"])}
    )


async def mint(
    store: aioredis.Redis, key: bytes, principal: Principal, *, now: float, ends_at: float | None
) -> Ticket:
    """A new ticket for `principal`, kept TICKET_SECONDS; refused to anonymous callers."""
    if not principal.is_authenticated:
        raise UnauthenticatedError("sign in to ask for a stream ticket")
    nonce = secrets.token_bytes(16)
    expires_at = int(now) + TICKET_SECONDS
    record = json.dumps({"principal": _principal_json(principal), "ends_at": ends_at})
    # Kept a little past the expiry, so a late but valid ticket still finds its record.
    await store.set(_KEY + nonce.hex(), record, ex=TICKET_SECONDS + 5)
    return Ticket(value=encode(key, expires_at=expires_at, nonce=nonce), expires_at=expires_at)


async def redeem(store: aioredis.Redis, key: bytes, value: object, *, now: float) -> Redeemed:
    """The caller a ticket was issued to, once; TicketError if invalid, expired or used."""
    name = check(key, value, now=now)
    async with store.pipeline(transaction=True) as pipe:
        pipe.get(name)
        pipe.delete(name)
        record, _ = await pipe.execute()
    if record is None:
        raise TicketError("used", "stream ticket already used: ask for a new one")
    fields = json.loads(record)
    return Redeemed(principal=_principal_of(fields["principal"]), ends_at=fields["ends_at"])

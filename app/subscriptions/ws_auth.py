"""The access token in a WebSocket's `connection_init` payload, in the shapes clients send.

Clients put it in different places: `{"authorization": "Bearer <token>"}` (our documented
form, also `Authorization`), `{"token": ...}` or `{"authToken": ...}` (plain or with
`Bearer `), or the HTTP headers a link would send, `{"headers": {"Authorization": "Bearer
<token>"}}` (GraphiQL-style and Apollo examples; `authorization` too). A socket refused at
`connection_init` is closed with 4403 and a reason saying what went wrong and what is expected
(`rejection_reason`), where Strawberry's handler would only say "Forbidden".
"""

from __future__ import annotations

from collections.abc import Mapping

_BEARER_KEYS = ("authorization", "Authorization")
_PLAIN_KEYS = ("token", "authToken")
EXPECTED = 'send connection_init {"authorization": "Bearer <access token>"}'
MAX_REASON_BYTES = 123  # a close frame's reason (RFC 6455: 125 bytes of payload, 2 for the code)


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def token_of(params: object) -> str | None:
    """The access token of a connection_init payload; None when there is none."""
    if not isinstance(params, Mapping):
        return None
    headers = params.get("headers")
    for source in (params, headers) if isinstance(headers, Mapping) else (params,):
        for key in _BEARER_KEYS:
            value = source.get(key)
            if isinstance(value, str):
                return _bearer(value)
    for key in _PLAIN_KEYS:
        value = params.get(key)
        if isinstance(value, str):
            plain = value.strip()
            return _bearer(plain) if plain.lower().startswith("bearer ") else plain
    return None


def rejection_reason(code: str, message: str) -> str:
    """The close reason of a refused connection_init: the code, why, and what is expected."""
    reason = f"{code}: {message}" if message == EXPECTED else f"{code}: {message}; {EXPECTED}"
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[:MAX_REASON_BYTES].decode(errors="ignore")

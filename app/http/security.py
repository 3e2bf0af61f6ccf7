"""Host checking (Django's ALLOWED_HOSTS), the HTTPS redirect and HSTS, as pure ASGI."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.middleware import header, plain_response

logger = logging.getLogger(__name__)

# Host values found allowed, per middleware, are remembered up to this many: a service answers
# to a few names, and a flood of new ones (a wildcard pattern allows any subdomain) only stops
# adding to the set.
MAX_REMEMBERED_HOSTS = 64

# Railway's health check calls this over plain HTTP with an internal Host header.
HEALTH_PATH = "/api/health/"
LOCAL_HOSTS = (".localhost", "127.0.0.1", "[::1]")


# RFC 3986 `host [ ":" port ]` as a Host header may carry it: a DNS name (letters, digits,
# hyphens, dots; a trailing dot allowed), an IPv4 address or a bracketed IPv6 literal. No
# userinfo (`a@b`), no path, no spaces; `127.0.0.1:8113@evil.example` is not a host.
_HOST = re.compile(
    r"^(?P<host>\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?)(?::(?P<port>[0-9]{1,5}))?$"
)


def parse_host(value: str) -> tuple[str, int | None] | None:
    """(host in lower case without a trailing dot, port) of a valid Host header, else None."""
    match = _HOST.match(value.strip().lower()) if len(value) <= 260 else None
    if match is None:
        return None
    host, port = match.group("host"), match.group("port")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    else:
        host = host.rstrip(".")
        if len(host) > 253 or max(map(len, host.split("."))) > 63:
            return None
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return host, (int(port) if port is not None else None)


def split_host(value: str) -> str:
    """The host name of a Host header, lower case, without port or trailing dot ("" if invalid)."""
    parsed = parse_host(value)
    return parsed[0] if parsed is not None else ""


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Django's rule: `*` anything, `.example.com` the domain and its subdomains, else exact.

    A Host header that is not a valid `host[:port]` is never allowed, not even by `*`.
    """
    host = split_host(host)
    if not host:
        return False
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*":
            return True
        if pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == split_host(pattern):
            return True
    return False


def effective_allowed_hosts(allowed: list[str], *, debug: bool, production: bool) -> list[str]:
    """ALLOWED_HOSTS as served; empty means local names only, and nothing in production.

    As in Django: an empty list serves localhost in DEBUG (and, for us, in any
    non-production environment); in production it serves nothing but the health check,
    and `dpo check --deploy` reports it (dpo.E008).
    """
    if allowed:
        return list(allowed)
    if debug or not production:
        return list(LOCAL_HOSTS)
    return []


class TrustedHostMiddleware:
    """Answer 400 to requests whose Host header is not in the allowed list."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed_hosts = list(allowed_hosts)
        # Raw Host values already found allowed: checked again by one set lookup (~20 calls).
        self.allowed_seen: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or scope.get("path") == HEALTH_PATH
            or self.allows(scope)
        ):
            await self.app(scope, receive, send)
            return
        await self.refuse(scope, send)

    def allows(self, scope: Scope) -> bool:
        """Whether the request's one Host header is allowed."""
        hosts = [bytes(value) for name, value in scope.get("headers", ()) if name == b"host"]
        # RFC 9112: a request with more than one Host is refused (it would be ambiguous).
        if len(hosts) == 1 and hosts[0] in self.allowed_seen:
            return True
        host = hosts[0].decode("latin-1") if len(hosts) == 1 else ""
        if host_allowed(host, self.allowed_hosts):
            if len(hosts) == 1 and len(self.allowed_seen) < MAX_REMEMBERED_HOSTS:
                self.allowed_seen.add(hosts[0])
            return True
        return False

    @staticmethod
    async def refuse(scope: Scope, send: Send) -> None:
        """400, or a WebSocket closed with 1008."""
        logger.warning("request with a disallowed Host header refused")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await plain_response(send, 400, "Bad Request: host not allowed.\n")


class HttpsMiddleware:
    """Redirect plain HTTP to HTTPS and add HSTS to HTTPS responses.

    The scheme comes from the ASGI scope, which uvicorn fills from Railway's
    `X-Forwarded-Proto` (it trusts the proxy). GET and HEAD get a 301; other methods a 308,
    which keeps the method and body, so a client that posts over HTTP is told where to go
    without the body being silently dropped or replayed as a GET.
    """

    def __init__(self, app: ASGIApp, *, redirect: bool, hsts_seconds: int) -> None:
        self.app = app
        self.redirect = redirect
        self.hsts = f"max-age={hsts_seconds}; includeSubDomains" if hsts_seconds > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"
        if not secure and self.redirect and scope.get("path") != HEALTH_PATH:
            await self.redirect_to_https(scope, send)
            return
        if not secure or self.hsts is None:
            await self.app(scope, receive, send)
            return
        hsts = self.hsts

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("Strict-Transport-Security", hsts)
            await send(message)

        await self.app(scope, receive, send_with_hsts)

    async def redirect_to_https(self, scope: Scope, send: Send) -> None:
        """301 (GET, HEAD) or 308 to the same URL over HTTPS."""
        # Built from the parsed host only (TrustedHostMiddleware has refused invalid ones;
        # the health path, which it lets through, is never redirected).
        parsed = parse_host(header(scope, "host") or "")
        if parsed is None:
            await plain_response(send, 400, "Bad Request: invalid Host header.\n")
            return
        name, port = parsed
        authority = name if port is None else f"{name}:{port}"
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        location = b"https://" + authority.encode("ascii") + path + (b"?" + query if query else b"")
        status = 301 if scope.get("method") in ("GET", "HEAD") else 308
        await plain_response(send, status, "Use HTTPS.\n", [(b"location", location)])

"""Host checking (Django's ALLOWED_HOSTS), the HTTPS redirect and HSTS, as pure ASGI."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.middleware import header, plain_response

logger = logging.getLogger(__name__)

# Railway's health check calls this over plain HTTP with an internal Host header.
HEALTH_PATH = "/api/health/"
LOCAL_HOSTS = (".localhost", "127.0.0.1", "[::1]")


def split_host(value: str) -> str:
    """The host name of a Host header, lower case, without port or trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else ""
    return value.rsplit(":", 1)[0].rstrip(".") if value.count(":") <= 1 else value


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Django's rule: `*` anything, `.example.com` the domain and its subdomains, else exact."""
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        host = header(scope, "host") or ""
        if host_allowed(host, self.allowed_hosts):
            await self.app(scope, receive, send)
            return
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
            await self._redirect(scope, send)
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

    async def _redirect(self, scope: Scope, send: Send) -> None:
        host = header(scope, "host") or "localhost"
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        location = b"https://" + host.encode("latin-1") + path + (b"?" + query if query else b"")
        status = 301 if scope.get("method") in ("GET", "HEAD") else 308
        await plain_response(send, status, "Use HTTPS.\n", [(b"location", location)])

"""The Host check, HTTPS and CORS in one pure ASGI layer.

They were three adjacent layers, each a frame per request and two of them a `send` wrapper
per message (Starlette's CORSMiddleware also parses the request's headers into a `Headers`
object and rebuilds the response's as `MutableHeaders`, Origin or not). Here, in the same
order: a disallowed Host is refused (app.http.security.TrustedHostMiddleware's rules); plain
HTTP is redirected when SECURE_SSL_REDIRECT is on, and HTTPS answers get HSTS
(HttpsMiddleware's); then CORS. A request with an Origin header (every browser's cross-origin
request and preflight) goes through Starlette's CORSMiddleware as before. One without gets
exactly what CORSMiddleware adds to it, `Vary: Origin` (joined with any Vary the answer set,
as its MutableHeaders does), from the one `send` wrapper that also adds HSTS.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.security import HEALTH_PATH, HttpsMiddleware, TrustedHostMiddleware


def vary_origin(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with `Vary` set to its values and `Origin`, joined, where the first was
    (CORSMiddleware's `headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])`)."""
    found = [i for i, (name, _) in enumerate(raw) if name == b"vary"]
    if not found:
        raw.append((b"vary", b"Origin"))
        return raw
    values = [raw[i][1].decode("latin-1") for i in found]
    for i in reversed(found[1:]):
        del raw[i]
    raw[found[0]] = (b"vary", ", ".join([*values, "Origin"]).encode("latin-1"))
    return raw


class EdgeMiddleware:
    """TrustedHostMiddleware, HttpsMiddleware and CORSMiddleware, in that order, as one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: list[str],
        redirect: bool,
        hsts_seconds: int,
        cors: dict[str, Any],
    ) -> None:
        self.app = app
        self.hosts = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)
        self.https = HttpsMiddleware(app, redirect=redirect, hsts_seconds=hsts_seconds)
        self.cors = CORSMiddleware(app, **cors)
        self.hsts = self.https.hsts.encode("latin-1") if self.https.hsts else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope.get("path") != HEALTH_PATH and not self.hosts.allows(scope):
            await self.hosts.refuse(scope, send)
            return
        if kind != "http":  # HTTPS and CORS leave WebSockets alone
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"
        if not secure and self.https.redirect and scope.get("path") != HEALTH_PATH:
            await self.https.redirect_to_https(scope, send)
            return
        hsts = self.hsts if secure else None
        if b"origin" in [name for name, _ in scope.get("headers", ())]:
            await self.cors(scope, receive, send if hsts is None else _with_hsts(send, hsts))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = vary_origin(list(message.get("headers", ())))
                if hsts is not None and b"strict-transport-security" not in [n for n, _ in raw]:
                    raw.append((b"strict-transport-security", hsts))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_hsts(send: Send, hsts: bytes) -> Send:
    async def send_with_hsts(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", ()))
            if b"strict-transport-security" not in [name for name, _ in raw]:
                raw.append((b"strict-transport-security", hsts))
            message["headers"] = raw
        await send(message)

    return send_with_hsts

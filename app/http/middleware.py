"""Pure ASGI middleware: request id and security headers, the 500 answer and the body limit.

Pure ASGI (not BaseHTTPMiddleware) so WebSockets and streamed responses pass untouched.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.forwarded import ProxyTrust, apply_proxy_headers
from dpo.inputs import is_ascii_digits
from dpo.logs import client_address_var, request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# Incoming ids are echoed into logs and headers: accept only short, plain tokens.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def header(scope: Scope, name: str) -> str | None:
    """The first value of a request header (name in lower case), or None."""
    wanted = name.encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key == wanted:
            return bytes(value).decode("latin-1")
    return None


def sane_request_id(value: str | None) -> str:
    """The caller's request id when it is a plain token, else a new one."""
    if value is not None and _SANE_ID.match(value):
        return value
    return uuid.uuid4().hex


async def send_answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a whole answer the middleware makes itself: start and body, with its length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def plain_response(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a short text/plain response."""
    await send_answer(send, status, text.encode(), b"text/plain; charset=utf-8", headers)


async def json_response(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send an already encoded JSON body."""
    await send_answer(send, status, body, b"application/json", headers)


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode("latin-1")


def with_response_headers(raw: list[tuple[bytes, bytes]], request_id: bytes) -> None:
    """Add the security headers the response lacks, then set `X-Request-ID` (in place).

    Names are compared in lower case, as MutableHeaders did; the headers are appended raw
    rather than through MutableHeaders, which decodes every header once per header set.
    """
    names = {bytes(name).lower() for name, _ in raw}
    if _REQUEST_ID_RAW in names:
        raw[:] = [item for item in raw if bytes(item[0]).lower() != _REQUEST_ID_RAW]
    for name, value in SECURITY_HEADERS:
        if name not in names:
            raw.append((name, value))
    raw.append((_REQUEST_ID_RAW, request_id))


class ResponseHeadersMiddleware:
    """Each request's id, and the headers every HTTP response carries.

    The id (the caller's sane `X-Request-ID`, else a new one) goes in the log context, the
    request's state and the response's `X-Request-ID`. The client's address (the scope's, which
    app.http.forwarded set from a trusted proxy) goes in the log context too, so every audit row
    records both (dpo.services.audit). Every response gets no sniffing, no framing and no
    referrer leaks, unless it set those headers itself. One layer for both: each ASGI layer
    costs a wrapped `send` per message of every request.

    With `trust`, the outermost layer: the client's address and scheme are first taken from a
    trusted proxy's headers (app.http.forwarded), so everything after it and the access log
    see the client's; it was a layer of its own.
    """

    def __init__(self, app: ASGIApp, *, trust: ProxyTrust | None = None) -> None:
        self.app = app
        self.trust = trust

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.trust is not None:
            apply_proxy_headers(scope, self.trust)
        request_id = sane_request_id(header(scope, REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        client = scope.get("client")
        address_token = client_address_var.set(str(client[0])[:64] if client else None)
        raw_id = request_id.encode("latin-1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.setdefault("headers", [])
                if not isinstance(raw, list):
                    raw = message["headers"] = list(raw)
                with_response_headers(raw, raw_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(token)
            client_address_var.reset(address_token)


INTERNAL_BODY = (
    b'{"data":null,"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL"}}]}'
)


class ResponseStarted:
    """A `send` that remembers whether the response has started (too late for another answer)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class ErrorBoundaryMiddleware:
    """An error escaping the application becomes a GraphQL-shaped JSON 500, logged once.

    It sits inside the request id, metrics and security headers, so the 500 carries
    `X-Request-ID` and the headers like any answer, and is counted; the rate limit inside it
    has already counted the request. Starlette's own last-resort handler (outermost) would
    answer plain text without any of them. Nothing of the error reaches the client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = ResponseStarted(send)
        try:
            await self.app(scope, receive, sent)
        except Exception:
            logger.exception(
                "unhandled error in %s %s (request %s)",
                scope.get("method"),
                scope.get("path"),
                request_id_var.get(),
            )
            if sent.started:
                raise  # too late for an answer: the server drops the connection
            await json_response(send, 500, INTERNAL_BODY)


class BodyTooLargeError(Exception):
    """The request body passed the limit while it was being read."""


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, counting bytes as they stream in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, "content-length")
        if declared is not None and is_ascii_digits(declared) and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Content-Length may lie or be absent (chunked): count what arrives.
                    raise BodyTooLargeError
            return message

        sent = ResponseStarted(send)
        try:
            await self.app(scope, limited_receive, sent)
        except BodyTooLargeError:
            if sent.started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        """A GraphQL-shaped 413, like every other refusal of /graphql."""
        logger.info("request body over %d bytes refused", self.max_bytes)
        body = json.dumps(
            {
                "data": None,
                "errors": [
                    {
                        "message": f"Request body over {self.max_bytes} bytes.",
                        "extensions": {"code": "LIMIT_EXCEEDED"},
                    }
                ],
            },
            separators=(",", ":"),
        ).encode()
        await json_response(send, 413, body, [(b"connection", b"close")])

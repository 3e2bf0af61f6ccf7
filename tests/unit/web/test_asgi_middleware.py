"""The ASGI middleware on a tiny echo app, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.http.forwarded import ProxyTrust
from app.http.middleware import BodySizeLimitMiddleware, ResponseHeadersMiddleware
from app.http.security import HttpsMiddleware
from dpo.logs import client_address_var, request_id_var

seen_ids: list[str] = []


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, answer 200 with its length."""
    seen_ids.append(request_id_var.get())
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def call(
    app: Any,
    *,
    method: str = "POST",
    scheme: str = "http",
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks or []) - 1}
        for i, chunk in enumerate(chunks or [b""])
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "scheme": scheme,
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"a=1",
        "headers": headers or [],
    }
    await app(scope, receive, send)
    start = sent[0]
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


async def test_body_limit_counts_streamed_chunks() -> None:
    app = BodySizeLimitMiddleware(echo, max_bytes=10)
    assert (await call(app, chunks=[b"12345", b"12345"]))[0] == 200
    assert (await call(app, chunks=[b"12345", b"12345", b"1"]))[0] == 413
    declared = [(b"content-length", b"11")]
    assert (await call(app, headers=declared, chunks=[b"1"]))[0] == 413


async def test_redirect_keeps_path_and_query_and_method_semantics() -> None:
    app = HttpsMiddleware(echo, redirect=True, hsts_seconds=60)
    host = [(b"host", b"api.example.com")]
    status, headers, _ = await call(app, method="GET", headers=host)
    assert status == 301
    assert headers["location"] == "https://api.example.com/graphql?a=1"
    assert (await call(app, method="POST", headers=host))[0] == 308
    status, headers, _ = await call(app, scheme="https", headers=host)
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=60; includeSubDomains"


async def test_request_id_is_set_for_the_app_and_reset_after() -> None:
    app = ResponseHeadersMiddleware(echo)
    _, headers, _ = await call(app, headers=[(b"x-request-id", b"given-1")])
    assert headers["x-request-id"] == "given-1"
    assert seen_ids[-1] == "given-1"
    assert request_id_var.get() == "-"


async def test_every_response_gets_the_security_headers_and_one_request_id() -> None:
    app = ResponseHeadersMiddleware(echo)
    _, headers, _ = await call(app)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert len(headers["x-request-id"]) == 32


async def test_headers_the_response_set_itself_are_kept_and_its_request_id_replaced() -> None:
    async def own(scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": (
                (b"X-Frame-Options", b"SAMEORIGIN"),
                (b"X-Request-ID", b"stale"),
                (b"x-request-id", b"stale-too"),
            ),
        }
        await send(start)
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-request-id", b"r-9")]}
    await ResponseHeadersMiddleware(own)(scope, receive, send)
    raw = list(sent[0]["headers"])
    assert (b"X-Frame-Options", b"SAMEORIGIN") in raw
    assert not any(name.lower() == b"x-frame-options" and value == b"DENY" for name, value in raw)
    assert [value for name, value in raw if name.lower() == b"x-request-id"] == [b"r-9"]
    assert (b"x-content-type-options", b"nosniff") in raw


async def test_an_allowed_host_is_remembered_and_a_refused_one_is_not() -> None:
    from app.http.security import MAX_REMEMBERED_HOSTS, TrustedHostMiddleware

    app = TrustedHostMiddleware(echo, allowed_hosts=[".example.com"])
    for _ in range(2):
        assert (await call(app, headers=[(b"host", b"api.example.com")]))[0] == 200
        assert (await call(app, headers=[(b"host", b"evil.test")]))[0] == 400
        # Two Host headers are refused even when each alone is allowed and remembered.
        twice = [(b"host", b"api.example.com"), (b"host", b"api.example.com")]
        assert (await call(app, headers=twice))[0] == 400
    assert app.allowed_seen == {b"api.example.com"}
    for i in range(MAX_REMEMBERED_HOSTS + 5):
        assert (await call(app, headers=[(b"host", f"h{i}.example.com".encode())]))[0] == 200
    assert len(app.allowed_seen) == MAX_REMEMBERED_HOSTS


def test_a_request_with_any_api_key_header_is_seen_as_one() -> None:
    from app.http.ratelimit import _has_api_key

    assert not _has_api_key({"headers": [(b"host", b"a"), (b"authorization", b"Bearer x")]})
    assert not _has_api_key({})
    for name in (b"x-api-key", b"x-signature", b"x-timestamp"):
        assert _has_api_key({"headers": [(b"host", b"a"), (name, b"v")]})


@pytest.mark.parametrize(
    ("peer", "client", "scheme"),
    [
        ("10.0.0.2", "203.0.113.9", "https"),  # our proxy: its entry and scheme are the client's
        ("198.51.100.7", "198.51.100.7", "http"),  # anyone else: the forged headers are ignored
    ],
)
async def test_the_outermost_layer_reads_the_proxy_headers_before_anything_else(
    peer: str, client: str, scheme: str
) -> None:
    seen: list[tuple[object, object, str | None]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["client"][0], scope["scheme"], client_address_var.get()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    trust = ProxyTrust.from_settings(["10.0.0.0/8"], hops=1, header="X-Forwarded-For")
    layer = ResponseHeadersMiddleware(app, trust=trust)
    sent: list[Message] = []
    scope = {
        "type": "http",
        "scheme": "http",
        "path": "/graphql",
        "client": (peer, 4000),
        "headers": [
            (b"x-forwarded-for", b"6.6.6.6, 203.0.113.9"),
            (b"x-forwarded-proto", b"https"),
        ],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def collect(message: Message) -> None:
        sent.append(message)

    await layer(scope, receive, collect)
    # The audit's address (set by the same layer) is the client's too, never the forged one.
    assert seen == [(client, scheme, client)]
    assert dict(sent[0]["headers"])[b"x-frame-options"] == b"DENY"

"""app.http.edge: one layer answers exactly what TrustedHost, HTTPS and CORS answered as three."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.edge import EdgeMiddleware
from app.http.security import HttpsMiddleware, TrustedHostMiddleware
from app.http.stack import CORS_HEADERS, CORS_MAX_AGE

CORS: dict[str, Any] = {
    "allow_origins": ["https://app.example.com"],
    "allow_credentials": True,
    "allow_methods": ["GET", "POST", "OPTIONS"],
    "allow_headers": CORS_HEADERS,
    "expose_headers": ["X-Request-ID", "Retry-After", "X-Cache"],
    "max_age": CORS_MAX_AGE,
}
HOSTS = [".example.com"]


def answering(vary: list[bytes]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            return
        headers = [(b"content-type", b"application/json"), *((b"vary", v) for v in vary)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def three_layers(app: ASGIApp, *, redirect: bool, hsts: int) -> ASGIApp:
    inner = CORSMiddleware(app, **CORS)
    https = HttpsMiddleware(inner, redirect=redirect, hsts_seconds=hsts)
    return TrustedHostMiddleware(https, allowed_hosts=HOSTS)


def one_layer(app: ASGIApp, *, redirect: bool, hsts: int) -> ASGIApp:
    return EdgeMiddleware(app, allowed_hosts=HOSTS, redirect=redirect, hsts_seconds=hsts, cors=CORS)


async def answer(app: ASGIApp, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(scope), receive, send)
    return [
        {**m, "headers": [tuple(h) for h in m["headers"]]} if "headers" in m else m for m in sent
    ]


ORIGINS = [None, b"https://app.example.com", b"https://evil.example.net"]
HOST_HEADERS = [[b"api.example.com"], [b"evil.test"], [b"api.example.com", b"api.example.com"]]


def requests() -> list[Scope]:
    scopes: list[Scope] = []
    for origin, hosts, scheme, method, path, preflight in itertools.product(
        ORIGINS,
        HOST_HEADERS,
        ["http", "https"],
        ["GET", "POST", "OPTIONS"],
        ["/graphql", "/api/health/"],
        [False, True],
    ):
        headers = [(b"host", h) for h in hosts]
        if origin is not None:
            headers.append((b"origin", origin))
        if preflight:
            headers.append((b"access-control-request-method", b"POST"))
        scopes.append(
            {
                "type": "http",
                "method": method,
                "scheme": scheme,
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"a=1",
                "headers": headers,
            }
        )
    return scopes


@pytest.mark.parametrize(("redirect", "hsts"), [(False, 0), (True, 3600), (False, 3600)])
@pytest.mark.parametrize("vary", [[], [b"Accept"], [b"Accept", b"Authorization"]])
async def test_every_request_gets_the_same_answer_and_headers(
    redirect: bool, hsts: int, vary: list[bytes]
) -> None:
    app = answering(vary)
    for scope in requests():
        expected = await answer(three_layers(app, redirect=redirect, hsts=hsts), scope)
        ours = await answer(one_layer(app, redirect=redirect, hsts=hsts), scope)
        assert ours == expected, scope


@pytest.mark.parametrize("hosts", HOST_HEADERS)
async def test_websockets_are_checked_for_their_host_only(hosts: list[bytes]) -> None:
    headers = [(b"host", h) for h in hosts] + [(b"origin", b"https://x.test")]
    scope: Scope = {"type": "websocket", "scheme": "ws", "path": "/graphql", "headers": headers}
    app = answering([])
    expected = await answer(three_layers(app, redirect=True, hsts=60), scope)
    assert await answer(one_layer(app, redirect=True, hsts=60), scope) == expected

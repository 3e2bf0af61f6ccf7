"""Middleware through a real uvicorn: hosts, HTTPS, CORS, headers, body size, request ids."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from dpo.embedded.process import free_port
from tests.e2e.conftest import ROOT, SharedWeb, base_env, wait_http, web_server

QUERY = {"query": "{ status { version } }"}


def env_for(migrated_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, **extra)


@contextmanager
def logged_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """Like web_server, with the process's output written to `log`."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "web", "--port", str(port)],
            env=env,
            cwd=ROOT / "tests",
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/api/health/")
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(20)


def test_disallowed_host_is_refused_and_suffix_matches(migrated_url: str, redis_url: str) -> None:
    env = env_for(migrated_url, redis_url, ALLOWED_HOSTS=".railway.app,api.example.com")
    with web_server(env) as base:
        bad = httpx.post(base + "/graphql", json=QUERY, headers={"Host": "evil.example.org"})
        sub = httpx.post(base + "/graphql", json=QUERY, headers={"Host": "dpo-web.up.railway.app"})
        apex = httpx.post(base + "/graphql", json=QUERY, headers={"Host": "railway.app:8080"})
        exact = httpx.post(base + "/graphql", json=QUERY, headers={"Host": "api.example.com"})
        lookalike = httpx.post(base + "/graphql", json=QUERY, headers={"Host": "notrailway.app"})
        health = httpx.get(base + "/api/health/", headers={"Host": "10.0.0.7:8080"})
    assert bad.status_code == 400
    assert lookalike.status_code == 400
    assert sub.status_code == 200
    assert apex.status_code == 200
    assert exact.status_code == 200
    assert health.status_code == 200


def test_production_with_empty_allowed_hosts_serves_only_health(
    migrated_url: str, redis_url: str
) -> None:
    env = env_for(
        migrated_url,
        redis_url,
        ENVIRONMENT="production",
        DJANGO_SECRET_KEY="k" * 64,
        ALLOWED_HOSTS="",
    )
    with web_server(env) as base:
        graphql = httpx.post(base + "/graphql", json=QUERY)
        health = httpx.get(base + "/api/health/")
    assert graphql.status_code == 400
    assert health.status_code == 200


def test_ssl_redirect_and_hsts(migrated_url: str, redis_url: str) -> None:
    env = env_for(
        migrated_url, redis_url, SECURE_SSL_REDIRECT="true", SECURE_HSTS_SECONDS="31536000"
    )
    with web_server(env) as base:
        plain = httpx.get(
            base + "/graphql?query=%7Bstatus%7Bversion%7D%7D",
            headers={"X-Forwarded-Proto": "http", "Host": "localhost"},
        )
        post = httpx.post(
            base + "/graphql",
            json=QUERY,
            headers={"X-Forwarded-Proto": "http", "Host": "localhost"},
        )
        secure = httpx.post(base + "/graphql", json=QUERY, headers={"X-Forwarded-Proto": "https"})
        health = httpx.get(base + "/api/health/", headers={"X-Forwarded-Proto": "http"})
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://localhost/graphql?query=%7Bstatus%7Bversion%7D%7D"
    assert "strict-transport-security" not in plain.headers
    assert post.status_code == 308
    assert secure.status_code == 200
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert health.status_code == 200
    assert "strict-transport-security" not in health.headers


def test_no_redirect_and_no_hsts_by_default(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    base = shared_web(env_for(migrated_url, redis_url))
    response = httpx.post(base + "/graphql", json=QUERY, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers


def test_cors_preflight_for_allowed_and_refused_origins(migrated_url: str, redis_url: str) -> None:
    env = env_for(migrated_url, redis_url, CORS_ALLOWED_ORIGINS="https://directprivateoffers.net")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    with web_server(env) as base:
        allowed = httpx.options(
            base + "/graphql", headers={"Origin": "https://directprivateoffers.net", **preflight}
        )
        refused = httpx.options(
            base + "/graphql", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = httpx.post(
            base + "/graphql", json=QUERY, headers={"Origin": "https://directprivateoffers.net"}
        )
        foreign = httpx.post(
            base + "/graphql", json=QUERY, headers={"Origin": "https://evil.example"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://directprivateoffers.net"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert int(allowed.headers["access-control-max-age"]) > 0
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://directprivateoffers.net"
    assert "access-control-allow-origin" not in foreign.headers


def test_security_headers(migrated_url: str, redis_url: str, shared_web: SharedWeb) -> None:
    base = shared_web(env_for(migrated_url, redis_url))
    response = httpx.post(base + "/graphql", json=QUERY)
    refused = httpx.get(base + "/graphql", headers={"Host": "evil.example"})
    for headers in (response.headers, refused.headers):
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"


def test_body_over_the_limit_is_refused(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    padding = " " * (1024 * 1024 + 10)
    big = ('{"query": "{ status { version } }"' + padding + "}").encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    base = shared_web(env_for(migrated_url, redis_url))
    declared = httpx.post(
        base + "/graphql", content=big, headers={"Content-Type": "application/json"}
    )
    streamed = httpx.post(
        base + "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    small = httpx.post(base + "/graphql", json={"query": "{ status { version } }" + " " * 1000})
    assert declared.status_code == 413
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert small.status_code == 200


def test_request_id_echoed_and_in_every_log_line(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "web.log"
    with logged_server(env_for(migrated_url, redis_url), log) as base:
        given = httpx.post(base + "/graphql", json=QUERY, headers={"X-Request-ID": "abc-123.x"})
        made = httpx.post(base + "/graphql", json=QUERY)
        hostile = httpx.post(base + "/graphql", json=QUERY, headers={"X-Request-ID": "x" * 500})
    assert given.headers["x-request-id"] == "abc-123.x"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "x" * 500
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines
    assert all("request_id=" in line for line in lines), lines
    access = [line for line in lines if "POST /graphql" in line]
    assert any("request_id=abc-123.x" in line for line in access), lines
    assert any(f"request_id={made.headers['x-request-id']}" in line for line in access)


def test_websocket_with_a_disallowed_host_is_refused(migrated_url: str, redis_url: str) -> None:
    env = env_for(migrated_url, redis_url, ALLOWED_HOSTS="api.example.com")
    with web_server(env) as base:
        port = int(base.rsplit(":", 1)[1])

        def handshake(host: str) -> int:
            # Connect to our server but name `host` in the Host header.
            sock = socket.create_connection(("127.0.0.1", port))
            try:
                with connect(
                    f"ws://{host}:{port}/graphql",
                    sock=sock,
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                ):
                    return 101
            except InvalidStatus as refused:
                return refused.response.status_code

        assert handshake("evil.example") == 403
        assert handshake("api.example.com") == 101

"""The web service's edges against a real `dpo web`: forwarded headers, Host, slow clients, port.

Raw sockets where the point is what a client library would not send.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from dpo.embedded.process import free_port
from tests.e2e.conftest import ROOT, base_env, web_server
from tests.e2e.test_web_security import logged_server

PRODUCTION = {
    "ENVIRONMENT": "production",
    "DJANGO_SECRET_KEY": "p" * 64,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
}
QUERY = {"query": "{ status { version } }"}


def env_for(migrated_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return base_env(
        DATABASE_URL=migrated_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        WS_CAPS_NAMESPACE="dpo:ws:caps:" + secrets.token_hex(6),
        **extra,
    )


async def sockets_accepted(base: str, forwarded: Callable[[int], str], count: int) -> int:
    """Open `count` WebSockets at once, socket i sending X-Forwarded-For forwarded(i)."""
    url = base.replace("http://", "ws://") + "/graphql"
    opened = []
    accepted = 0
    try:
        for i in range(count):
            try:
                ws = await connect(
                    url,
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    additional_headers={"X-Forwarded-For": forwarded(i)},
                    open_timeout=10,
                )
            except InvalidStatus:
                continue
            opened.append(ws)
            accepted += 1
    finally:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    return accepted


async def test_forged_forwarded_for_does_not_beat_the_address_cap(
    migrated_url: str, redis_url: str
) -> None:
    env = env_for(migrated_url, redis_url, WS_MAX_CONNECTIONS_PER_ADDRESS="3", **PRODUCTION)
    with web_server(env) as base:
        # Each client-chosen first entry differs; the proxy's own (last) entry is the client.
        forged = await sockets_accepted(base, lambda i: f"10.9.8.{i + 1}, 192.0.2.77", 8)
        # Proxy entries that differ are different clients: all get in.
        distinct = await sockets_accepted(base, lambda i: f"192.0.2.{i + 100}", 8)
    assert forged == 3
    assert distinct == 8


async def test_forwarded_headers_of_an_untrusted_peer_are_ignored(
    migrated_url: str, redis_url: str
) -> None:
    env = env_for(
        migrated_url,
        redis_url,
        WS_MAX_CONNECTIONS_PER_ADDRESS="3",
        FORWARDED_ALLOW_IPS="10.0.0.1",
        SECURE_SSL_REDIRECT="true",
        **PRODUCTION,
    )
    with web_server(env) as base:
        distinct = await sockets_accepted(base, lambda i: f"192.0.2.{i + 100}", 8)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            claimed = await client.post(
                "/graphql", json=QUERY, headers={"X-Forwarded-Proto": "https"}
            )
    assert distinct == 3  # all from 127.0.0.1, whatever they claim
    assert claimed.status_code == 308  # still plain HTTP: redirected


def test_access_log_names_the_proxys_entry(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = env_for(migrated_url, redis_url, **PRODUCTION)
    env["LOG_LEVEL"] = "INFO"
    log = tmp_path / "web.log"
    with logged_server(env, log) as base:
        httpx.post(base + "/graphql", json=QUERY, headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.9"})
    text = log.read_text()
    assert "192.0.2.9" in text
    assert "6.6.6.6" not in text


def test_a_host_with_userinfo_is_refused_and_never_redirected(
    migrated_url: str, redis_url: str
) -> None:
    env = env_for(migrated_url, redis_url, SECURE_SSL_REDIRECT="true", **PRODUCTION)
    evil = "127.0.0.1:8113@evil.example"
    with web_server(env) as base:
        plain = {"X-Forwarded-Proto": "http"}
        refused = [
            httpx.request(
                method,
                base + "/graphql?query=%7Bstatus%7Bversion%7D%7D",
                headers={**plain, "Host": host},
            )
            for method in ("GET", "POST")
            for host in (
                evil,
                "127.0.0.1 evil.example",
                "127.0.0.1/evil.example",
                "[::1",
                "127.0.0.1:99999",
            )
        ]
        good = httpx.get(base + "/graphql", headers={**plain, "Host": "127.0.0.1:8113"})
    assert [r.status_code for r in refused] == [400] * len(refused)
    assert not any("location" in r.headers for r in refused)
    assert good.status_code == 301
    assert good.headers["location"] == "https://127.0.0.1:8113/graphql"


def test_the_evil_host_is_refused_even_with_a_star(migrated_url: str, redis_url: str) -> None:
    env = env_for(
        migrated_url, redis_url, SECURE_SSL_REDIRECT="true", **{**PRODUCTION, "ALLOWED_HOSTS": "*"}
    )
    with web_server(env) as base:
        response = httpx.get(
            base + "/graphql",
            headers={"X-Forwarded-Proto": "http", "Host": "127.0.0.1:8113@evil.example"},
        )
    assert response.status_code == 400
    assert "location" not in response.headers


def _trickle(
    port: int, head: bytes, piece: bytes, *, pieces: int, every: float
) -> tuple[int, bytes]:
    """Send `head`, then `piece` every `every` seconds; (pieces sent, what came back) at close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(every)
        for sent in range(pieces):
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                answer = None
            except ConnectionResetError:
                return sent, b""
            if answer is not None:
                rest = answer
                sock.settimeout(5)
                while answer:
                    answer = sock.recv(4096)
                    rest += answer
                return sent, rest  # the server answered and closed
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                return sent, b""
    return pieces, b""


def test_slow_headers_bodies_and_silence_are_cut_off(migrated_url: str, redis_url: str) -> None:
    env = env_for(migrated_url, redis_url, HTTP_HEADER_TIMEOUT="1", HTTP_BODY_TIMEOUT="2")
    with web_server(env) as base:
        port = int(base.rsplit(":", 1)[1])
        request = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        # 40 pieces at 0.25 s: 10 s if nobody stops them; the deadlines are 1 s and 2 s.
        headers = _trickle(port, request, b"X-Slow: 1\r\n", pieces=40, every=0.25)
        body = _trickle(
            port,
            request + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
            b" ",
            pieces=40,
            every=0.25,
        )
        silent = _trickle(port, b"", b"", pieces=40, every=0.25)
        # A prompt request on the same server is unaffected.
        ok = httpx.post(base + "/graphql", json=QUERY)
    for sent, answer in (headers, body, silent):
        assert sent < 40  # cut off long before the client gave up
        assert answer in (b"",) or answer.startswith(b"HTTP/1.1 408"), answer
    assert headers[1].startswith(b"HTTP/1.1 408")
    assert body[1].startswith(b"HTTP/1.1 408")
    assert ok.status_code == 200


def test_a_taken_port_ends_dpo_web_with_one_line(migrated_url: str, redis_url: str) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "app", "web", "--port", str(port)],
            env=env_for(migrated_url, redis_url),
            cwd=ROOT / "tests",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dpo web: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert time.monotonic() - started < 60


def test_check_deploy_lists_each_problem_once() -> None:
    from tests.e2e.conftest import run_dpo
    from tests.e2e.test_cli import RUNBOOK

    result = run_dpo("check", "--deploy", env=base_env(**RUNBOOK))
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) > 10
    assert len(set(lines)) == len(lines), result.stdout
    assert lines[-1].startswith(f"Deployment check found {len(lines) - 1} problems")
    # Without --deploy only invalid variables count.
    plain = run_dpo("check", env=base_env(**RUNBOOK))
    assert plain.returncode == 0, plain.stdout

"""A production-like run: web, listener and scheduler as Railway starts them, then SIGTERM.

ENVIRONMENT=production with real PostgreSQL, Redis, anvil and the provider simulators, no
embedded server (DPO_DATA_DIR stays empty), JSON log lines. Each service gets SIGTERM as an
old deployment does: web closes its WebSockets with 1001, ends its event streams, finishes the
request in flight and refuses new connections; listener and scheduler stop cleanly; all exit 0.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dpo.embedded.process import free_port
from sandbox.server import Sandbox
from tests.e2e import test_subscriptions as subscriptions
from tests.e2e.conftest import ROOT, base_env
from tests.e2e.test_subscriptions import SECRET_KEY, Sessions, bearer, token
from tests.integration.chain.conftest import deployed, w3
from tests.integration.streaming.wsclient import EVENTS, open_socket

pytestmark = pytest.mark.timeout(300)

feed_db = subscriptions.feed_db
__all__ = ["deployed", "w3"]
HMAC = "hmac-" + secrets.token_hex(24)
FIELDS = {"time", "level", "logger", "message", "request_id", "service"}
HTTPS = {"X-Forwarded-Proto": "https"}  # what Railway's edge sends; `*` is trusted in production


def production_env(
    database_url: str, redis_url: str, data_dir: Path, **extra: str
) -> dict[str, str]:
    """The variables railway-setup.sh gives every service, pointed at the test's servers."""
    return base_env(
        ENVIRONMENT="production",
        DEBUG="False",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        API_HMAC_SECRET=HMAC,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="True",
        SECURE_HSTS_SECONDS="31536000",
        LOG_LEVEL="INFO",
        DPO_DATA_DIR=str(data_dir),
        WS_CAPS_NAMESPACE="dpo:ws:caps:" + secrets.token_hex(6),
        **extra,
    )


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`python -m app ARGS`, its output to a file."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            env=env,
            cwd=ROOT / "tests",
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def json_lines(log: Path, service: str) -> list[dict[str, Any]]:
    """Every line of the log, each one JSON object with our fields and no secret."""
    text = log.read_text()
    assert SECRET_KEY not in text
    assert HMAC not in text
    records = []
    for line in text.splitlines():
        record = json.loads(line)  # a line that is not JSON fails here
        assert record.keys() >= FIELDS, record
        assert record["service"] == service, record
        records.append(record)
    assert records
    return records


def _read(log: Path) -> str:
    return log.read_text()


async def wait_for(
    log: Path, text: str, process: subprocess.Popen[bytes], within: float = 120
) -> None:
    """Until the process logged `text`."""
    deadline = time.monotonic() + within
    while text not in _read(log):
        assert process.poll() is None, f"exited {process.returncode}:\n{_read(log)}"
        assert time.monotonic() < deadline, f"never logged {text!r}:\n{_read(log)}"
        await asyncio.sleep(0.1)


async def stopped(process: subprocess.Popen[bytes], within: float = 90) -> int:
    """SIGTERM, then the exit code."""
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + within
    while process.poll() is None:
        assert time.monotonic() < deadline, "did not stop"
        await asyncio.sleep(0.1)
    return process.returncode


def _trickled_request(port: int) -> tuple[socket.socket, bytes]:
    """A POST whose body is half sent: a request in flight when SIGTERM comes."""
    body = json.dumps({"query": "{ __typename }"}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body[:5]
    )
    sock.setblocking(False)
    return sock, body[5:]


async def _answer(sock: socket.socket, rest: bytes) -> bytes:
    """Send the rest of the body; the whole answer, until the server closes."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, rest)
    answer = b""
    async with asyncio.timeout(60):
        while chunk := await loop.sock_recv(sock, 65536):
            answer += chunk
    sock.close()
    return answer


async def _sse_ends(client: httpx.AsyncClient, base: str, opened: asyncio.Event) -> str:
    """Open an event stream; what it received until the server ended it."""
    received = ""
    headers = {"Accept": "text/event-stream", **HTTPS, **bearer()}
    async with client.stream(
        "POST", base + "/graphql", headers=headers, json={"query": EVENTS, "variables": {}}
    ) as response:
        assert response.status_code == 200
        opened.set()
        async for text in response.aiter_text():
            received += text
    return received


@pytest.fixture
async def web(
    feed_db: tuple[str, Sessions], redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`dpo web` in production on a free port, as railway.toml starts it."""
    log, port = tmp_path / "web.log", free_port()
    # A drain longer than the waits below: what ends early was ended, not timed out.
    env = production_env(feed_db[0], redis_url, tmp_path / "data", WEB_DRAIN_SECONDS="40")
    process = start(env, log, "web", "--host", "127.0.0.1", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_for(log, "dpo web listening", process)
        await wait_for(log, "Application startup complete", process)
        yield process, base, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_web_in_production_drains_on_sigterm(
    web: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, tmp_path = web
    port = int(base.rsplit(":", 1)[1])
    async with httpx.AsyncClient(timeout=60) as client:
        # Railway's health check: its own Host, plain HTTP, answered 200.
        health = await client.get(
            base + "/api/health/", headers={"Host": "healthcheck.railway.app"}
        )
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        # The edge's X-Forwarded-Proto is trusted: no redirect, and HSTS on the answer.
        answer = await client.post(
            base + "/graphql", json={"query": "{ __typename }"}, headers=HTTPS
        )
        assert answer.status_code == 200, answer.text
        assert "strict-transport-security" in answer.headers
        plain = await client.post(base + "/graphql", json={"query": "{ __typename }"})
        assert plain.status_code == 308

        async with open_socket(base) as sock:
            ack = await sock.init({"authorization": f"Bearer {token()}"})
            assert ack["type"] == "connection_ack", ack
            await sock.subscribe("1", EVENTS)
            opened = asyncio.Event()
            stream = asyncio.create_task(_sse_ends(client, base, opened))
            async with asyncio.timeout(60):
                await opened.wait()
            in_flight, rest = _trickled_request(port)
            await asyncio.sleep(0.5)  # the server has read the partial request

            process.send_signal(signal.SIGTERM)
            code, reason = await sock.closed_with()
            assert code == 1001, (code, reason)  # going away: reconnect and resume
            assert "resume" in reason
            async with asyncio.timeout(20):  # ended at once, not at the drain's end
                received = await stream
            assert "event: complete" not in received  # not finished: the client resumes
            with pytest.raises(ConnectionRefusedError):  # no longer accepting
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            finished = await _answer(in_flight, rest)
    head, _, body = finished.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), finished
    assert b"connection: close" in head.lower()
    assert json.loads(body)["data"] == {"__typename": "Query"}
    # Done when the last request is, not after the 40 s drain.
    assert await asyncio.to_thread(process.wait, 30) == 0

    records = json_lines(tmp_path / "web.log", "web")
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert access
    assert all(r["request_id"] != "-" for r in access)
    assert any("ending 1 event stream" in r["message"] for r in records)
    assert not (tmp_path / "data").exists()  # no embedded server was started


@pytest.mark.needs_chain
async def test_listener_and_scheduler_in_production_stop_on_sigterm(
    feed_db: tuple[str, Sessions],
    redis_url: str,
    anvil_url: str,
    deployed: dict[str, str],
    tmp_path: Path,
) -> None:
    sandbox = Sandbox().start()
    try:
        env = production_env(
            feed_db[0],
            redis_url,
            tmp_path / "data",
            BLOCKCHAIN_RPC_URL=anvil_url,
            BLOCKCHAIN_NETWORK="anvil",
            START_BLOCK_NUMBER="0",
            LISTENER_POLL_INTERVAL="0.2",
            PROVIDER_RETRY_ATTEMPTS="1",
            **sandbox.environment(),
            **deployed,
        )
        listeners = [start(env, tmp_path / f"listener-{i}.log", "listener") for i in (1, 2)]
        scheduler = start(env, tmp_path / "cron.log", "jobs", "schedule")
        try:
            # One active, one standby, as railway.listener.toml runs them.
            await wait_for(tmp_path / "listener-1.log", "listener", listeners[0])
            deadline = time.monotonic() + 120
            while True:
                logs = [(tmp_path / f"listener-{i}.log").read_text() for i in (1, 2)]
                if any("this instance is active" in t for t in logs) and any(
                    "standing by" in t for t in logs
                ):
                    break
                assert time.monotonic() < deadline, logs
                assert all(p.poll() is None for p in listeners), logs
                await asyncio.sleep(0.1)
            await wait_for(tmp_path / "cron.log", "sync_fx_rates", scheduler)
            for process in [*listeners, scheduler]:
                assert await stopped(process) == 0
        finally:
            for process in [*listeners, scheduler]:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    finally:
        sandbox.stop()
    for i in (1, 2):
        records = json_lines(tmp_path / f"listener-{i}.log", "listener")
        assert any(r["message"] == "listener stopped" for r in records)
    json_lines(tmp_path / "cron.log", "jobs schedule")
    assert not (tmp_path / "data").exists()

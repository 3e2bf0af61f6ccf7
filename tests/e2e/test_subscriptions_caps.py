"""Connection caps shared by two `dpo web` processes through Redis, with leases that run out."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dpo.embedded.process import free_port
from tests.e2e.conftest import ROOT, wait_http, web_server
from tests.e2e.test_subscriptions import acknowledged, bearer, server_env, signed_in
from tests.integration.streaming.wsclient import open_socket

pytestmark = pytest.mark.timeout(180)


@contextmanager
def crashable_server(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`dpo web` as web_server starts it, with its process, so a test can kill it."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "web", "--port", str(port)],
            env=env,
            cwd=ROOT / "tests",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/api/health/")
            yield process, base
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(20)


async def test_the_per_user_cap_holds_across_processes_and_a_crashed_one_stops_counting(
    migrated_url: str, redis_url: str
) -> None:
    env = server_env(
        migrated_url, redis_url, WS_MAX_CONNECTIONS_PER_USER="1", WS_CAPS_LEASE_SECONDS="2"
    )
    with web_server(env) as second_base, crashable_server(env) as (first, first_base):
        async with open_socket(first_base) as holder:
            await signed_in(holder)
            async with open_socket(second_base) as refused:
                await refused.send({"type": "connection_init", "payload": bearer()})
                code, _ = await refused.closed_with()
            first.send_signal(signal.SIGKILL)  # no close, no release: only the lease's end
            first.wait(20)
            async with asyncio.timeout(30):
                while not await acknowledged(second_base):  # noqa: ASYNC110 (Redis's state)
                    await asyncio.sleep(0.2)
            holder.drop()
    assert code == 4403

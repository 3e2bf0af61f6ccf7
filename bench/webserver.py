"""A real `dpo web` process for benchmarks, started and awaited in one place."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from dpo.embedded.process import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_answering(base: str, timeout: float = 60) -> None:
    """Return once the server at `base` answers its health route; raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(base + "/api/health/", timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def web_process(
    env: dict[str, str], *, timeout: float = 60, stop_timeout: float = 20, tree: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start `dpo web` on a free port, wait until it answers; yield (process, base URL).

    With `tree` (an earlier commit's checkout, bench/previous.py), that code runs: `-m app`
    finds the working folder's packages before the installed ones.
    """
    port = free_port()
    # One worker unless the caller asks for more: the benchmarks measure CPU per request of
    # one process (server_pid), and `dpo web` starts one per core by default.
    env = {"WEB_CONCURRENCY": "1", **env}
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "web", "--port", str(port)],
        env=env,
        cwd=tree or ROOT / "bench",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_answering(base, timeout)
        yield server, base
    finally:
        server.terminate()
        server.wait(stop_timeout)

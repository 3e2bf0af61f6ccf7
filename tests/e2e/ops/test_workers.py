"""`dpo web` with WEB_CONCURRENCY=2: real worker processes sharing one port.

Both workers answer (each counts what it served, and /metrics gives both, labelled); SIGTERM
drains every worker (requests in flight answered, all exit, the command exits 0); a worker
killed with SIGKILL is replaced while the other keeps serving, and a crash loop takes the
service down with exit 1; a bad WEB_CONCURRENCY ends the command at once with exit 2.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dpo.embedded.process import free_port
from tests.e2e.conftest import base_env, run_dpo, wait_http
from tests.e2e.ops.test_production import _answer, _trickled_request, start

pytestmark = pytest.mark.timeout(240)
_READY = "Application startup complete."
_SERVED = re.compile(r'^dpo_http_requests_total\{.*route="/api/health/".*worker="(\d+)"\} (\S+)$')


def workers_of(pid: int) -> set[int]:
    """The worker processes of the supervisor `pid` (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def until(check: object, within: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def served(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    log = tmp_path / "web.log"
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, WEB_CONCURRENCY="2")
    process = start(env, log, "web", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/health/", process=process)
        until(lambda: len(workers_of(process.pid)) == 2, what="two workers")
        # Both serving, not only started: a worker still importing when a test acts would be
        # the test's own race (the health check above may have reached the first one only).
        until(lambda: log.read_text().count(_READY) == 2, what="both workers serving")
        yield process, base, log
    finally:
        if process.poll() is None:  # SIGTERM, so the supervisor removes its folder too
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def served_by(base: str) -> dict[str, float]:
    """Health requests counted per worker, from one /metrics answer."""
    counts: dict[str, float] = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        match = _SERVED.match(line)
        if match:
            counts[match[1]] = float(match[2])
    return counts


async def burst(base: str, n: int = 40) -> None:
    """n health requests at once, each on its own connection."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        answers = await asyncio.gather(*(client.get(base + "/api/health/") for _ in range(n)))
    assert {a.status_code for a in answers} == {200}


def test_both_workers_answer_and_metrics_give_both(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, _ = served
    deadline = time.monotonic() + 60
    while len(served_by(base)) < 2:
        assert time.monotonic() < deadline, served_by(base)
        asyncio.run(burst(base))
    counts = served_by(base)
    assert set(counts) == {"0", "1"}
    assert all(value > 0 for value in counts.values())
    # Every scrape gives both, whichever worker answers it.
    for _ in range(6):
        assert set(served_by(base)) == {"0", "1"}
    assert process.poll() is None


async def _drain(process: subprocess.Popen[bytes], port: int) -> tuple[list[bytes], int]:
    pending = [_trickled_request(port) for _ in range(8)]
    await asyncio.sleep(0.5)  # the workers have read the headers
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    answers = await asyncio.gather(*(_answer(sock, rest) for sock, rest in pending))
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, process.wait, 60)
    return answers, code


def test_sigterm_drains_every_worker(served: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    process, base, log = served
    workers = workers_of(process.pid)
    answers, code = asyncio.run(_drain(process, int(base.rsplit(":", 1)[1])))
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"connection: close" in answer.lower()
    assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    for pid in workers:
        assert f"Finished server process [{pid}]" in text
        assert not Path(f"/proc/{pid}").exists()


def test_sigterm_while_workers_start_exits_0(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Told to stop while its workers still import: no worker served, so the stop is clean."""
    log = tmp_path / "web.log"
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, WEB_CONCURRENCY="2")
    process = start(env, log, "web", "--port", str(free_port()))
    try:
        until(lambda: "dpo web: 2 workers" in log.read_text(), what="the workers to be started")
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "stopped before it served" in text, text[-3000:]


def test_a_killed_worker_is_replaced(served: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    process, base, log = served
    victim, survivor = sorted(workers_of(process.pid))
    os.kill(victim, signal.SIGKILL)
    # The other worker keeps serving while the new one starts.
    assert httpx.get(base + "/api/health/", timeout=10).status_code == 200
    until(lambda: len(workers_of(process.pid) - {victim}) == 2, what="a replacement worker")
    assert survivor in workers_of(process.pid)
    assert "was killed by SIGKILL; starting a new one" in log.read_text()
    assert process.poll() is None
    wait_http(base + "/api/health/", process=process)


def test_a_crash_loop_takes_the_service_down(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, _, log = served
    killed: set[int] = set()
    deadline = time.monotonic() + 150
    while process.poll() is None:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        for pid in workers_of(process.pid) - killed:
            killed.add(pid)
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    assert process.returncode == 1
    assert "stopping the service" in log.read_text()
    assert len(killed) >= 6  # five deaths replaced, the sixth stops the service


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "65", ""])
def test_a_bad_web_concurrency_exits_2_with_one_line(value: str, migrated_url: str) -> None:
    env = base_env(DATABASE_URL=migrated_url, WEB_CONCURRENCY=value)
    result = run_dpo("web", "--port", str(free_port()), env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "WEB_CONCURRENCY" in lines[0]

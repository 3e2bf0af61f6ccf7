"""Helpers that run the real `dpo` command and a real uvicorn server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from dpo.embedded.process import free_port
from tests.support import processes

ROOT = Path(__file__).resolve().parents[2]
# Variables a developer's shell or .env might set that would change what a test sees.
_CLEARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "ENVIRONMENT",
    "PORT",
    "BLOCKCHAIN_RPC_URL",
    "QUICKNODE_URL",
    "START_BLOCK_NUMBER",
    "RATE_LIMIT_ANON",
    "RATE_LIMIT_USER",
    "GRAPHQL_MAX_COST",
    "GRAPHQL_COST_PER_MINUTE",
    "WEB_CONCURRENCY",
)
# Every e2e request comes from 127.0.0.1 and shares one Redis: tests of the rate limit and of
# the query budget set their own, the others must not trip over the production defaults.
_DEFAULTS = {
    "RATE_LIMIT_ANON": "1000000/min",
    "RATE_LIMIT_USER": "1000000/min",
    "GRAPHQL_COST_PER_MINUTE": "1000000000",
    # One process, as the tests of one server's state (metrics, caches, SIGKILL) expect; the
    # workers have their own tests (tests/e2e/ops/test_workers.py).
    "WEB_CONCURRENCY": "1",
}


def base_env(**extra: str) -> dict[str, str]:
    """The test process's environment without our variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(_DEFAULTS)
    env.update(extra)
    return env


def run_dpo(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m app ARGS` from a folder with no .env and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT / "tests",
        check=False,
    )


def wait_http(
    url: str, timeout: float = 90, process: subprocess.Popen[bytes] | None = None
) -> httpx.Response:
    """Poll a URL until it answers at all (a server starting on a busy machine can take tens
    of seconds to import and bind); stop at once if its `process` has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {process.returncode} before {url} answered"
                ) from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def web_server(env: dict[str, str], *, log_path: Path | None = None) -> Iterator[str]:
    """A real `dpo web` process on a free port; yields its base URL.

    Its output goes to `log_path` when given (a test reads what the server logged), else to
    a file in the test's tmp_path: never to a pipe nobody reads, where a chatty server would
    block (tests/support/processes.py).
    """
    port = free_port()
    process = processes.python_app("web", "--port", str(port), env=env, log=log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/health/", process=process)
        yield base
    finally:
        process.terminate()
        process.wait(20)


@pytest.fixture(scope="session", autouse=True)
def _process_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where a process started outside a test (a module's server) writes its output."""
    processes.log_dir.append(tmp_path_factory.mktemp("processes"))
    yield
    processes.log_dir.clear()


@pytest.fixture(autouse=True)
def _test_process_logs(tmp_path: Path) -> Iterator[None]:
    """A process started by a test writes its output to the test's tmp_path; one the test
    left running (it failed before stopping it) is killed, not left to the next test."""
    processes.log_dir.append(tmp_path)
    first = len(processes.STARTED)
    yield
    processes.log_dir.remove(tmp_path)
    processes.kill_running(first)


_FIRST = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember which processes were started before this test."""
    item.stash[_FIRST] = len(processes.STARTED)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report ends with the last lines of each process it started."""
    report = yield
    if report.failed:
        for title, text in processes.reports(item.stash.get(_FIRST, len(processes.STARTED))):
            report.sections.append((title, text))
    return report


# shared_web: the base URL of a server kept for the session, for an environment.
SharedWeb = Callable[[dict[str, str]], str]


@pytest.fixture(scope="session")
def shared_web(migrated_url: str, redis_url: str) -> Iterator[SharedWeb]:
    """The base URL of a `dpo web` with this environment, started on first use and kept for
    the worker's whole run: each start costs seconds of imports, and the tests of answers to
    requests (headers, limits on input, refusals) need no server of their own. A test that
    reads what a server counted, cached or logged starts its own (web_server). It depends on
    the session's database and Redis so that they are torn down after its servers."""
    servers: dict[frozenset[tuple[str, str]], str] = {}
    with ExitStack() as stack:

        def get(env: dict[str, str]) -> str:
            # pytest names the running test in the environment each child inherits.
            key = frozenset((k, v) for k, v in env.items() if k != "PYTEST_CURRENT_TEST")
            if key not in servers:
                first = len(processes.STARTED)
                log = processes.log_file("web", shared=True)
                servers[key] = stack.enter_context(web_server(env, log_path=log))
                processes.keep(first)
            return servers[key]

        yield get


@pytest.fixture
def web(migrated_url: str, redis_url: str) -> Callable[..., object]:
    """Start `dpo web` on the test database and Redis, with extra variables."""

    def start(**extra: str) -> object:
        env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, **extra)
        return web_server(env)

    return start

"""The production image itself, built by `make image` and run here by a container engine.

`make image-test` builds it and runs these with DPO_IMAGE naming it. They are not among the
suite's testpaths (pyproject.toml), so `make test` never collects them: a container engine is
not part of `make setup`, and CI checks the Dockerfile (tests/install) in seconds instead of
building for minutes. Asked for without DPO_IMAGE they fail rather than skip: a run that
names these tests means to test an image (docs/DEPLOY.md, "Building it").
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dpo.embedded.process import free_port
from dpo.lockfile import locked_versions, read_lock
from tests.install.test_production_install import CONTRACTS, _railway_commands

IMAGE = os.environ.get("DPO_IMAGE", "")
DOCKER = os.environ.get("DOCKER", "docker")


@pytest.fixture(autouse=True)
def _an_image_is_named() -> None:
    if not IMAGE:
        pytest.fail("DPO_IMAGE names no built image (make image-test builds one)")


REFUSAL = (
    "configuration error: DATABASE_URL, REDIS_URL: required in production "
    "(embedded servers are for development only)"
)


def _run(
    *args: str, env: dict[str, str] | None = None, user: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`docker run --rm` of the image with these arguments, on the host's network."""
    command = [DOCKER, "run", "--rm", "--network", "host"]
    for key, value in (env or {}).items():
        command += ["-e", f"{key}={value}"]
    if user is not None:
        command += ["--user", user]
    return subprocess.run(
        [*command, IMAGE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_it_runs_debians_python_of_the_tested_minor_version() -> None:
    result = _run(
        "python",
        "-c",
        "import sys, ssl; print(sys.version_info[:2], sys.executable,"
        " ssl.get_default_verify_paths().openssl_cafile)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        f"({sys.version_info.major},",
        f"{sys.version_info.minor})",
        "/app/.venv/bin/python",
        "/usr/lib/ssl/cert.pem",
    ]
    packages = _run("dpkg-query", "-W", "-f", "${Package}\\n").stdout.split()
    assert f"python{sys.version_info.major}.{sys.version_info.minor}" in packages
    assert "ca-certificates" in packages


def test_it_holds_the_locked_production_set_and_no_build_tools() -> None:
    # The lock's markers are evaluated by the image's interpreter: Debian's 3.11.2 gets
    # async-timeout (redis: python_full_version < '3.11.3'), which this one may not.
    code = (
        "import json; from dpo.lockfile import installed_versions, locked_versions, "
        "read_lock; print(json.dumps([installed_versions(), locked_versions(read_lock())]))"
    )
    result = _run("python", "-c", code)
    assert result.returncode == 0, result.stderr
    installed, locked = json.loads(result.stdout)
    installed.pop("dpo-platform")
    assert installed == locked
    assert set(locked_versions(read_lock())) - set(locked) == set()
    tools = _run(
        "sh",
        "-c",
        "for t in gcc cc make pip pip3 uv git curl; do "
        "command -v $t || true; done; ls /var/lib/apt/lists",
    )
    assert tools.returncode == 0, tools.stderr
    assert tools.stdout.split() == ["auxfiles"] or tools.stdout.split() == []


def test_it_runs_unprivileged_and_cannot_change_its_code() -> None:
    result = _run("sh", "-c", "id -u; id -g; touch /app/dpo/x 2>&1 || echo read-only")
    assert result.stdout.split()[:2] == ["10001", "10001"]
    assert result.stdout.strip().endswith("read-only")


def test_every_railway_command_answers_help() -> None:
    commands = _railway_commands()
    assert len(commands) >= 5
    for command in commands:
        result = _run(*shlex.split(command), "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage:" in result.stdout, command


@pytest.mark.parametrize(
    "command",
    [
        ["python", "-m", "app", "web"],
        ["python", "-m", "app", "sender"],
        ["python", "manage.py", "run_blockchain_listener"],
    ],
    ids=" ".join,
)
def test_without_servers_a_service_refuses_in_one_line(command: list[str]) -> None:
    result = _run(*command, env=CONTRACTS)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [REFUSAL]


def test_check_deploy_refuses_without_the_databases() -> None:
    result = _run("python", "manage.py", "check", "--deploy")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        "DATABASE_URL: is not set: the embedded PostgreSQL is for development [dpo.E003]" in lines
    )
    assert "REDIS_URL: is not set: the embedded Redis is for development [dpo.E003]" in lines
    assert "uv.lock" not in result.stdout  # the image's install matches its lock


@pytest.fixture
def web_container(empty_database: str, redis_url: str) -> Iterator[tuple[str, str]]:
    """The image's `dpo web` after its pre-deploy migration, on the test servers."""
    env = {
        "DATABASE_URL": empty_database,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "PORT": str(free_port()),
    }
    migrate = _run("python", "manage.py", "migrate", "--noinput", env=env)
    assert migrate.returncode == 0, migrate.stderr
    name = f"dpo-web-{uuid.uuid4().hex[:8]}"
    command = [DOCKER, "run", "-d", "--name", name, "--network", "host"]
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    subprocess.run([*command, IMAGE], check=True, capture_output=True, timeout=60)
    try:
        yield name, f"http://127.0.0.1:{env['PORT']}"
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True, timeout=60, check=False)


def _health(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(f"{url}/api/health/", timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_web_serves_health_on_the_servers_and_stops_cleanly_on_sigterm(
    web_container: tuple[str, str], tmp_path: Path
) -> None:
    name, url = web_container
    response = _health(url)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["database"]["status"], body["redis"]["status"]) == (
        "ok",
        "ok",
        "ok",
    )
    stop = subprocess.run(
        [DOCKER, "stop", "-t", "30", name], capture_output=True, text=True, timeout=60, check=False
    )
    assert stop.returncode == 0, stop.stderr
    state = subprocess.run(
        [DOCKER, "inspect", name, "--format", "{{.State.ExitCode}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert state.stdout.strip() == "0"
    logs = subprocess.run(
        [DOCKER, "logs", name], capture_output=True, text=True, timeout=30, check=True
    )
    records = [
        json.loads(line)
        for line in logs.stderr.splitlines() + logs.stdout.splitlines()
        if line.startswith("{")
    ]
    assert records
    assert all(r["service"] == "web" for r in records)
    assert any(r["message"] == "Application shutdown complete." for r in records)


def test_check_deploy_judges_the_service_railway_names() -> None:
    key = "0x" + "4c" * 32
    result = _run(
        "python",
        "manage.py",
        "check",
        "--deploy",
        env={"RAILWAY_SERVICE_NAME": "web", "WALLET_PRIVATE_KEY": key},
    )
    assert result.returncode == 1
    assert (
        "WALLET_PRIVATE_KEY: is set on the web service, which never signs: keep the "
        "platform's key on the sender only (least privilege) [dpo.E021]"
        in result.stdout.splitlines()
    )
    assert key[2:] not in result.stdout + result.stderr


def test_a_one_off_command_reaches_the_databases_by_their_public_urls(
    empty_database: str, redis_url: str
) -> None:
    env = {
        "DATABASE_URL": "postgresql://postgres:pw@postgres.railway.internal:5432/railway",
        "REDIS_URL": "redis://default:pw@redis.railway.internal:6379",
        "DATABASE_PUBLIC_URL": empty_database,
        "REDIS_PUBLIC_URL": redis_url,
    }
    result = _run("python", "manage.py", "--public-urls", "migrate", "--noinput", env=env)
    assert result.returncode == 0, result.stderr
    shown = _run("python", "manage.py", "--public-urls", "showmigrations", env=env)
    assert shown.returncode == 0, shown.stderr
    # Every revision applied, in the public database.
    assert "[X]" in shown.stdout
    assert "[ ]" not in shown.stdout

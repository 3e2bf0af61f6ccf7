"""The dpo command and manage.py as operators run them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, base_env, run_dpo
from tests.runbook import RUNBOOK as RUNBOOK_VARIABLES

INVALID = [
    ("DATABASE_URL", "mysql://admin:s3cret-pw@db:3306/x"),
    ("DATABASE_URL", "postgres://admin:s3cret-pw@db:notaport/x"),
    ("START_BLOCK_NUMBER", "twelve"),
    ("ISSUANCE_CONTRACT_ADDRESS", "0x12345"),
    ("STO_CONTRACT_ADDRESS", "0xZZ34567890123456789012345678901234567890"),
    ("BLOCKCHAIN_NETWORK", "atlantis"),
]
# Every service reads the same settings object; each command is tried with one bad value
# and each bad value with one command, so the matrix stays small.
CASES = [(["web"], *case) for case in INVALID] + [
    (["listener"], *INVALID[2]),
    (["jobs", "run", "sync_csd"], *INVALID[3]),
    (["up"], *INVALID[0]),
]


@pytest.mark.parametrize(("command", "variable", "value"), CASES)
def test_invalid_setting_stops_startup_with_one_line(
    command: list[str], variable: str, value: str
) -> None:
    result = run_dpo(*command, env=base_env(**{variable: value}))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error:")
    assert variable in lines[0]
    assert "s3cret-pw" not in result.stderr + result.stdout


# The subscription transports' settings are part of the same object: a bad one stops every
# command the same way, before anything starts (they used to be read on first use).
STREAMING_CASES = [
    (["web"], "WS_INIT_TIMEOUT", "abc"),
    (["listener"], "WS_INIT_TIMEOUT", "abc"),
    (["jobs", "run", "sync_csd"], "WS_INIT_TIMEOUT", "abc"),
    (["web"], "SUBSCRIBER_QUEUE_SIZE", "0"),
    (["web"], "FEED_POLL_INTERVAL", "-1"),
    (["web"], "WS_MAX_CONNECTIONS_PER_USER", "9" * 400),
    (["web"], "WS_CAPS_NAMESPACE", "x" * 101),
    (["web"], "WS_CLOSE_TIMEOUT", "nan"),
]


@pytest.mark.parametrize(("command", "variable", "value"), STREAMING_CASES)
def test_invalid_streaming_setting_stops_startup_with_one_line(
    command: list[str], variable: str, value: str
) -> None:
    result = run_dpo(*command, env=base_env(**{variable: value}))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}: "), lines[0]
    assert "Traceback" not in result.stderr


def test_every_job_of_the_runbook_is_known() -> None:
    for job in ("sync_fx_rates", "sync_csd", "reconcile_positions"):
        result = run_dpo("jobs", "run", job, "--help", env=base_env())
        assert result.returncode == 0, result.stderr


def test_unknown_job_is_a_usage_error() -> None:
    result = run_dpo("jobs", "run", "sync_everything", env=base_env())
    assert result.returncode == 2
    assert "sync_fx_rates" in result.stderr


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "tests",
        check=False,
    )


# Seven interpreter start-ups in a row: on a loaded machine, more than the default 120 s.
@pytest.mark.timeout(420)
def test_manage_py_keeps_the_runbook_command_names() -> None:
    assert _manage("collectstatic", "--noinput").returncode == 0
    listener = _manage("run_blockchain_listener")
    assert listener.returncode == 2  # the listener, refusing to start without its contracts
    assert "ISSUANCE_CONTRACT_ADDRESS" in listener.stderr
    # Each runs through `dpo jobs run` (tests/e2e/test_jobs_cli.py runs them for real).
    for job in ("sync_csd", "sync_fx_rates", "reconcile_positions"):
        result = _manage(job, "--help")
        assert result.returncode == 0, job
        assert "Usage: dpo jobs run [OPTIONS] NAME" in result.stdout
    explained = _manage("makemigrations")
    assert explained.returncode == 2
    assert "dpo makemigrations -m" in explained.stdout
    assert _manage("no_such_command").returncode == 2


# As pasted from the runbook, with the secret key's shell substitution never run.
RUNBOOK = {**RUNBOOK_VARIABLES, "DJANGO_SECRET_KEY": "$(openssl rand -hex 32)"}


def test_check_deploy_with_the_runbook_values_lists_what_to_fix() -> None:
    for command in (["check", "--deploy"],):
        result = run_dpo(*command, env=base_env(**RUNBOOK))
        assert result.returncode == 1
        for variable in (
            "DJANGO_SECRET_KEY",
            "QUICKNODE_URL",
            "STO_CONTRACT_ADDRESS",
            "WALLET_PRIVATE_KEY",
            "DATABASE_URL",
            "REDIS_URL",
            "BILLBITTS_PRIVATE_KEY_PATH",
            "XETRA_PARTICIPANT_ID",
        ):
            assert variable in result.stdout, variable
    via_manage = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy"],
        env=base_env(**RUNBOOK),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "tests",
        check=False,
    )
    assert via_manage.returncode == 1
    assert "QUICKNODE_URL" in via_manage.stdout


def _proper_production_config(tmp_path: object) -> dict[str, str]:
    import secrets
    from pathlib import Path

    key_file = Path(str(tmp_path)) / "billbitts.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    good = {
        **RUNBOOK,
        "DJANGO_SECRET_KEY": secrets.token_hex(32),
        "WEBHOOK_SECRET": secrets.token_hex(32),
        "API_HMAC_SECRET": secrets.token_hex(32),
        "OMNISEND_API_KEY": secrets.token_hex(16),
        "BILLBITTS_API_KEY": secrets.token_hex(16),
        "BILLBITTS_PRIVATE_KEY_PATH": str(key_file),
        "QUICKNODE_URL": "https://nova.example-rpc.net/" + secrets.token_hex(8),
        "BLOCKCHAIN_RPC_URL": "https://nova.arbitrum.io/rpc",
        "ISSUANCE_CONTRACT_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "STO_CONTRACT_ADDRESS": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "DERIVATIVES_REPORTER_CONTRACT_ADDRESS": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
        "WALLET_PRIVATE_KEY": "0x" + secrets.token_hex(32),
        "EUROCLEAR_API_KEY": secrets.token_hex(16),
        "CLEARSTREAM_PMI_KEY": secrets.token_hex(16),
        "CLEARSTREAM_PARTICIPANT_ID": "CS12345",
        "XETRA_API_KEY": secrets.token_hex(16),
        "XETRA_PARTICIPANT_ID": "XE98765",
        "DATABASE_URL": "postgresql://app:pw@db.internal:5432/dpo",
        "REDIS_URL": "rediss://default:pw@redis.internal:6379/0",
    }
    return good


def test_check_deploy_passes_a_proper_production_config(tmp_path: object) -> None:
    result = run_dpo("check", "--deploy", env=base_env(**_proper_production_config(tmp_path)))
    assert result.returncode == 0, result.stdout
    assert "no issues" in result.stdout


def test_check_deploy_per_service_keeps_the_wallet_key_on_the_sender(tmp_path: object) -> None:
    good = _proper_production_config(tmp_path)
    key = good["WALLET_PRIVATE_KEY"]
    without = {k: v for k, v in good.items() if k != "WALLET_PRIVATE_KEY"}
    # As Railway runs it: the service named by RAILWAY_SERVICE_NAME.
    on_web = run_dpo("check", "--deploy", env=base_env(**good, RAILWAY_SERVICE_NAME="web"))
    assert on_web.returncode == 1
    assert on_web.stdout.splitlines()[0] == (
        "WALLET_PRIVATE_KEY: is set on the web service, which never signs: keep the platform's "
        "key on the sender only (least privilege) [dpo.E021]"
    )
    assert key[2:] not in on_web.stdout + on_web.stderr
    sender = run_dpo(
        "check",
        "--deploy",
        "--service",
        "sender",
        env=base_env(**without, RAILWAY_SERVICE_NAME="web"),
    )
    assert sender.returncode == 1
    assert "WALLET_PRIVATE_KEY: is not set: the sender signs" in sender.stdout
    for service, env in (("sender", good), ("listener", without), ("cron", without)):
        passed = run_dpo("check", "--deploy", "--service", service, env=base_env(**env))
        assert passed.returncode == 0, (service, passed.stdout)
    renamed = run_dpo("check", "--deploy", env=base_env(**good, RAILWAY_SERVICE_NAME="api"))
    assert renamed.returncode == 1
    assert "RAILWAY_SERVICE_NAME: is 'api', not one of web" in renamed.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--deploy", "--service", "worker"],
        ["check", "--deploy", "--service", "x" * 10_000],
        ["check", "--service", "web"],
    ],
)
def test_check_service_refuses_bad_usage(args: list[str]) -> None:
    result = run_dpo(*args, env=base_env())
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Usage:" in result.stderr

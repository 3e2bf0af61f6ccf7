"""railway-setup.sh: what it creates on Railway, and that with the operator's values (listed in
docs/RUNBOOK.md) production has every variable it needs, valid.

The Railway CLI needs an account: a stand-in on PATH records each call (arguments and stdin);
the script, its `openssl rand` and our deploy checks run for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dpo.deploy_environment import check_environment

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("web", "listener", "cron", "sender")
SECRETS = ("DJANGO_SECRET_KEY", "WEBHOOK_SECRET", "API_HMAC_SECRET")
RECORDER = """#!{python}
import json, os, sys
stdin = sys.stdin.read() if "--stdin" in sys.argv else None
with open(os.environ["RAILWAY_CALLS"], "a") as calls:
    calls.write(json.dumps({{"argv": sys.argv[1:], "stdin": stdin}}) + "\\n")
"""
# What Railway resolves the references to (private network names, as on Railway).
RESOLVED = {
    "${{Postgres.DATABASE_URL}}": "postgresql://postgres:pg-pass-123@postgres.railway"
    ".internal:5432/railway",
    "${{Redis.REDIS_URL}}": "redis://default:redis-pass-123@redis.railway.internal:6379",
    "${{Postgres.DATABASE_PUBLIC_URL}}": "postgresql://postgres:pg-pass-123@roundhouse"
    ".proxy.rlwy.net:11105/railway",
    "${{Redis.REDIS_PUBLIC_URL}}": "redis://default:redis-pass-123@monorail.proxy.rlwy.net:23145",
}


def _run_setup(tmp_path: Path, **extra: str) -> list[dict[str, Any]]:
    recorder = tmp_path / "railway"
    recorder.write_text(RECORDER.format(python=sys.executable))
    recorder.chmod(0o755)
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    done = subprocess.run(
        [str(ROOT / "railway-setup.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": os.environ["PATH"],
            "RAILWAY": str(recorder),
            "RAILWAY_CALLS": str(calls),
            **extra,
        },
    )
    assert done.returncode == 0, done.stderr
    if key := extra.get("WALLET_PRIVATE_KEY"):
        assert key not in done.stdout + done.stderr
    return [json.loads(line) for line in calls.read_text().splitlines()]


def _variables(calls: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {service: {} for service in SERVICES}
    for call in calls:
        argv = call["argv"]
        if argv[:2] != ["variable", "set"]:
            continue
        service = argv[argv.index("--service") + 1]
        assert "--skip-deploys" in argv  # nothing deploys half-configured
        words = [w for w in argv[2:] if not w.startswith("--") and w != service]
        if call["stdin"] is not None:
            (name,) = words
            found[service][name] = call["stdin"]
        else:
            for word in words:
                name, _, value = word.partition("=")
                assert name not in SECRETS, f"{name} on a command line (visible to ps)"
                found[service][name] = value
    return found


def operator_variables() -> set[str]:
    """The variables docs/RUNBOOK.md lists as the operator's to set."""
    text = (ROOT / "docs" / "RUNBOOK.md").read_text()
    table = text.split("<!-- operator-variables -->")[1]
    return set(re.findall(r"^\| `([A-Z0-9_]+)`", table, re.MULTILINE))


def operator_values(tmp_path: Path) -> dict[str, str]:
    """Valid production values for every operator variable (a real PEM file for BillBitts)."""
    pem = tmp_path / "billbitts.pem"
    pem.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n"
    )
    return {
        "OMNISEND_API_KEY": "omni-live-4f9a2c",
        "BILLBITTS_API_KEY": "bb-live-8d1e7f",
        "BILLBITTS_PRIVATE_KEY_PATH": str(pem),
        "EUROCLEAR_API_KEY": "ec-live-2b6d9a",
        "CLEARSTREAM_PMI_KEY": "cs-live-5c3e1b",
        "CLEARSTREAM_PARTICIPANT_ID": "CS12345",
        "XETRA_API_KEY": "xe-live-9f2a4d",
        "XETRA_PARTICIPANT_ID": "XE67890",
        "QUICKNODE_URL": "https://nova.quiknode.pro/abc123/",
        "BLOCKCHAIN_RPC_URL": "https://nova.arbitrum.io/rpc",
        "START_BLOCK_NUMBER": "12345678",
        "ISSUANCE_CONTRACT_ADDRESS": "0x0606008C719EFCd9c95B6139de07dDF11bc13040",
        "STO_CONTRACT_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "DERIVATIVES_REPORTER_CONTRACT_ADDRESS": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        "WALLET_PRIVATE_KEY": "0x" + "3d" * 32,
    }


def test_creates_the_databases_and_services(tmp_path: Path) -> None:
    argvs = [call["argv"] for call in _run_setup(tmp_path)]
    assert argvs[:5] == [
        ["add", "--database", "postgres", "--database", "redis"],
        *(["add", "--service", service] for service in SERVICES),
    ]


def test_secrets_are_generated_shared_and_fresh(tmp_path: Path) -> None:
    first = _variables(_run_setup(tmp_path))
    second = _variables(_run_setup(tmp_path))
    for name in SECRETS:
        values = {first[service][name] for service in SERVICES}
        assert len(values) == 1, f"{name} differs between services"
        (value,) = values
        assert re.fullmatch(r"[0-9a-f]{64}", value)  # openssl rand -hex 32
        assert value != second["web"][name], f"{name} was not generated"
    assert len({first["web"][name] for name in SECRETS}) == len(SECRETS)


def test_every_service_gets_the_same_variables(tmp_path: Path) -> None:
    found = _variables(_run_setup(tmp_path))
    assert found["web"] == found["listener"] == found["cron"] == found["sender"]
    assert found["web"]["DATABASE_URL"] == "${{Postgres.DATABASE_URL}}"
    assert found["web"]["REDIS_URL"] == "${{Redis.REDIS_URL}}"


def test_every_service_references_the_public_urls_for_railway_run(tmp_path: Path) -> None:
    from dpo.railway_urls import public_urls

    found = _variables(_run_setup(tmp_path))
    for service in SERVICES:
        assert found[service]["DATABASE_PUBLIC_URL"] == "${{Postgres.DATABASE_PUBLIC_URL}}"
        assert found[service]["REDIS_PUBLIC_URL"] == "${{Redis.REDIS_PUBLIC_URL}}"
    # Resolved as Railway does, `dpo --public-urls` takes them; unresolved, it says so.
    resolved = {name: RESOLVED.get(value, value) for name, value in found["web"].items()}
    assert public_urls(resolved) == {
        "DATABASE_URL": RESOLVED["${{Postgres.DATABASE_PUBLIC_URL}}"],
        "REDIS_URL": RESOLVED["${{Redis.REDIS_PUBLIC_URL}}"],
    }


def _service_values(tmp_path: Path, service: str) -> dict[str, str]:
    """The operator's values as docs/RUNBOOK.md has them set on this service."""
    values = operator_values(tmp_path)
    if service != "sender":
        del values["WALLET_PRIVATE_KEY"]
    return values


def test_production_needs_nothing_more(tmp_path: Path) -> None:
    found = _variables(_run_setup(tmp_path))
    documented = operator_variables()
    assert documented == set(operator_values(tmp_path)), "docs/RUNBOOK.md's operator variables"
    for service in SERVICES:
        given = found[service]
        assert not documented & set(given), "a variable is both generated and the operator's"
        environ = {name: RESOLVED.get(value, value) for name, value in given.items()}
        environ.update(_service_values(tmp_path, service))
        _, problems = check_environment(environ, service)
        assert problems == [], service
    # Without the operator's values, every one of them is reported, and nothing else.
    given = found["sender"]
    _, missing = check_environment(
        {name: RESOLVED.get(v, v) for name, v in given.items()}, "sender"
    )
    reported = {problem.variable for problem in missing}
    assert reported <= documented, reported - documented
    assert "WALLET_PRIVATE_KEY" in reported


def test_the_wallet_key_goes_to_the_sender_alone_through_stdin(tmp_path: Path) -> None:
    key = "0x" + "5e" * 32
    calls = _run_setup(tmp_path, WALLET_PRIVATE_KEY=key)
    keyed = [call for call in calls if "WALLET_PRIVATE_KEY" in " ".join(call["argv"])]
    assert [(call["argv"], call["stdin"]) for call in keyed] == [
        (
            [
                "variable",
                "set",
                "--service",
                "sender",
                "--skip-deploys",
                "WALLET_PRIVATE_KEY",
                "--stdin",
            ],
            key,
        )
    ]
    assert all(key not in " ".join(call["argv"]) for call in calls)
    found = _variables(calls)
    assert found["sender"]["WALLET_PRIVATE_KEY"] == key
    assert all("WALLET_PRIVATE_KEY" not in found[s] for s in SERVICES if s != "sender")
    # Not exported: not set anywhere (the operator sets it on the sender later).
    assert all(
        "WALLET_PRIVATE_KEY" not in found_
        for found_ in _variables(_run_setup(tmp_path, WALLET_PRIVATE_KEY="")).values()
    )


def test_the_runbook_keeps_the_wallet_key_on_the_sender(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "RUNBOOK.md").read_text()
    assert "| `WALLET_PRIVATE_KEY` | the platform's signing key: **sender only** |" in text
    assert "railway variable set --service sender --skip-deploys WALLET_PRIVATE_KEY" in text
    assert re.search(r"--service (web|listener|cron)\b[^\n]*WALLET_PRIVATE_KEY", text) is None
    # With the key on any other service, the deploy check of that service names it.
    found = _variables(_run_setup(tmp_path))
    for service in SERVICES:
        if service == "sender":
            continue
        environ = {n: RESOLVED.get(v, v) for n, v in found[service].items()}
        environ.update(operator_values(tmp_path))
        _, problems = check_environment(environ, service)
        assert [(p.variable, p.id) for p in problems] == [("WALLET_PRIVATE_KEY", "dpo.E021")]


@pytest.mark.parametrize("name", SECRETS)
def test_a_placeholder_secret_is_refused(tmp_path: Path, name: str) -> None:
    environ = {n: RESOLVED.get(v, v) for n, v in _variables(_run_setup(tmp_path))["web"].items()}
    environ.update(_service_values(tmp_path, "web"))
    environ[name] = "$(openssl rand -hex 32)"  # the runbook's text pasted as is
    _, problems = check_environment(environ)
    assert [problem.variable for problem in problems] == [name]

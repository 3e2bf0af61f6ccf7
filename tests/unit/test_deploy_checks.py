"""Tests of the production readiness checks (`check --deploy`)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from pydantic_settings import SettingsError

from dpo import deploy_environment
from dpo.deploy_checks import ANVIL_KEYS, check_deploy
from dpo.deploy_environment import check_environment
from dpo.deploy_problems import Problem, Severity, format_problems
from dpo.settings import CONTRACT_VARS
from tests.runbook import RUNBOOK

ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_KEY_1 = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
OPENSSL = "$(openssl rand -hex 32)"
ADDRESSES = {
    "ISSUANCE_CONTRACT_ADDRESS": "0x0606008C719EFCd9c95B6139de07dDF11bc13040",
    "STO_CONTRACT_ADDRESS": "0xDA261EB9411069bA1a0687844a42464568DfD797",
    "DERIVATIVES_REPORTER_CONTRACT_ADDRESS": "0x9a792C8aF9e2E2CAe5a03366936c1cbb4B6111D4",
    "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": "0xA0dbA83eA98b96966a9cA1b030dec2c60Cea4D1e",
}
API_KEYS = (
    "OMNISEND_API_KEY",
    "BILLBITTS_API_KEY",
    "EUROCLEAR_API_KEY",
    "CLEARSTREAM_PMI_KEY",
    "XETRA_API_KEY",
)

RUNBOOK_PROBLEMS = {
    "QUICKNODE_URL",
    "BLOCKCHAIN_RPC_URL",
    *CONTRACT_VARS,
    "WALLET_PRIVATE_KEY",
    *API_KEYS,
    "BILLBITTS_PRIVATE_KEY_PATH",
    "CLEARSTREAM_PARTICIPANT_ID",
    "XETRA_PARTICIPANT_ID",
    "DATABASE_URL",
    "REDIS_URL",
}


@pytest.fixture
def good(tmp_path: Path) -> dict[str, str]:
    """A proper production environment."""
    pem = tmp_path / "billbitts.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----\n")
    env = {name: value for name, value in RUNBOOK.items() if not value.startswith(("your-", "0x"))}
    return (
        env
        | ADDRESSES
        | {name: secrets.token_hex(24) for name in API_KEYS}
        | {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "api.directprivateoffers.net",
            "WEBHOOK_SECRET": secrets.token_hex(32),
            "API_HMAC_SECRET": secrets.token_hex(32),
            "DATABASE_URL": f"postgresql://dpo:{secrets.token_hex(16)}@db.internal:5432/dpo",
            "REDIS_URL": f"rediss://default:{secrets.token_hex(16)}@cache.internal:6380/0",
            "BILLBITTS_PRIVATE_KEY_PATH": str(pem),
            "QUICKNODE_URL": f"https://nova.quiknode.pro/{secrets.token_hex(20)}/",
            "BLOCKCHAIN_RPC_URL": "https://nova.arbitrum.io/rpc",
            "WALLET_PRIVATE_KEY": "0x" + keccak(text="dpo test wallet").hex(),
            "CLEARSTREAM_PARTICIPANT_ID": "CS12345",
            "XETRA_PARTICIPANT_ID": "XE67890",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
    )


def _in_dir(name: str, content: str | None) -> Callable[[Path], str]:
    def make(tmp_path: Path) -> str:
        path = tmp_path / name
        if content is None:
            path.mkdir()
        else:
            path.write_text(content)
        return str(path)

    return make


Value = str | None | Callable[[Path], str]
FLIPS: list[tuple[str, Value, str]] = [
    ("DEBUG", "True", "dpo.E001"),
    ("ENVIRONMENT", "staging", "dpo.E002"),
    ("ENVIRONMENT", "prod", "dpo.E018"),
    ("DJANGO_SECRET_KEY", None, "dpo.E003"),
    ("DJANGO_SECRET_KEY", "your-secret-key", "dpo.E004"),
    ("DJANGO_SECRET_KEY", OPENSSL, "dpo.E005"),
    ("DJANGO_SECRET_KEY", "`openssl rand -hex 32`", "dpo.E005"),
    ("DJANGO_SECRET_KEY", "secret", "dpo.E006"),
    ("DJANGO_SECRET_KEY", "django-insecure-" + secrets.token_urlsafe(50), "dpo.E007"),
    ("DJANGO_SECRET_KEY", secrets.token_hex(20), "dpo.E007"),
    ("DJANGO_SECRET_KEY", "abcd" * 20, "dpo.E007"),
    ("ALLOWED_HOSTS", "", "dpo.E008"),
    ("ALLOWED_HOSTS", "api.example.com,*", "dpo.E009"),
    ("SECURE_SSL_REDIRECT", "False", "dpo.W001"),
    ("SECURE_HSTS_SECONDS", None, "dpo.W002"),
    ("SECURE_HSTS_SECONDS", "3600", "dpo.W003"),
    ("CORS_ALLOWED_ORIGINS", "*", "dpo.E010"),
    ("CORS_ALLOWED_ORIGINS", "https://a.example,http://b.example", "dpo.W004"),
    ("CORS_ALLOWED_ORIGINS", None, "dpo.W005"),
    ("WEBHOOK_SECRET", None, "dpo.E003"),
    ("WEBHOOK_SECRET", "your-webhook-secret", "dpo.E004"),
    ("WEBHOOK_SECRET", OPENSSL, "dpo.E005"),
    ("WEBHOOK_SECRET", secrets.token_hex(15), "dpo.E007"),
    ("API_HMAC_SECRET", "changeme", "dpo.E004"),
    ("API_HMAC_SECRET", "x" * 40, "dpo.E007"),
    ("DATABASE_URL", None, "dpo.E003"),
    ("DATABASE_URL", "mysql://dpo:pw@db/dpo", "dpo.E018"),
    ("REDIS_URL", None, "dpo.E003"),
    ("QUICKNODE_URL", "your-quicknode-url", "dpo.E004"),
    ("QUICKNODE_URL", None, "dpo.W007"),
    ("QUICKNODE_URL", "http://nova.quiknode.pro/token/", "dpo.W006"),
    ("BLOCKCHAIN_RPC_URL", "ws://rpc.example.com/ws", "dpo.W006"),
    ("BLOCKCHAIN_RPC_URL", "your-quicknode-url", "dpo.E004"),
    ("BLOCKCHAIN_NETWORK", "anvil", "dpo.E011"),
    ("BLOCKCHAIN_NETWORK", "localhost", "dpo.E011"),
    ("BLOCKCHAIN_NETWORK", "31337", "dpo.E011"),
    ("BLOCKCHAIN_NETWORK", None, "dpo.E011"),
    ("START_BLOCK_NUMBER", "abc", "dpo.E018"),
    *[(name, None, "dpo.E003") for name in CONTRACT_VARS],
    *[(name, "0x...", "dpo.E004") for name in CONTRACT_VARS],
    *[(name, "0x" + "0" * 40, "dpo.E012") for name in CONTRACT_VARS],
    *[(name, ADDRESSES[name].lower(), "dpo.E013") for name in CONTRACT_VARS],
    *[(name, ADDRESSES[name].swapcase().replace("0X", "0x"), "dpo.E013") for name in CONTRACT_VARS],
    ("WALLET_PRIVATE_KEY", "0x...", "dpo.E004"),
    ("WALLET_PRIVATE_KEY", ANVIL_KEY_0, "dpo.E014"),
    ("WALLET_PRIVATE_KEY", ANVIL_KEY_1.upper(), "dpo.E014"),
    ("WALLET_PRIVATE_KEY", "0x1234", "dpo.E018"),
    ("BILLBITTS_PRIVATE_KEY_PATH", None, "dpo.E003"),
    ("BILLBITTS_PRIVATE_KEY_PATH", "/nonexistent/billbitts.pem", "dpo.E015"),
    ("BILLBITTS_PRIVATE_KEY_PATH", _in_dir("keys", None), "dpo.E016"),
    ("BILLBITTS_PRIVATE_KEY_PATH", _in_dir("key.txt", "not a key\n"), "dpo.E017"),
    *[(name, None, "dpo.E003") for name in API_KEYS],
    *[(name, f"your-{name.lower()}", "dpo.E004") for name in API_KEYS],
    ("CLEARSTREAM_PARTICIPANT_ID", "your-participant-id", "dpo.E004"),
    ("XETRA_PARTICIPANT_ID", "your-participant-id", "dpo.E004"),
    ("EUROCLEAR_API_BASE", "http://api.euroclear.com", "dpo.W006"),
    ("DEFAULT_FROM_EMAIL", "your-sender-address", "dpo.E004"),
    ("SOME_OTHER_TOOL_TOKEN", "your-token", "dpo.W008"),
]


def test_runbook_examples_are_reported() -> None:
    settings, problems = check_environment(RUNBOOK)
    assert settings is not None
    by_variable = {p.variable: p.id for p in problems}
    assert set(by_variable) == RUNBOOK_PROBLEMS | {"WEBHOOK_SECRET", "API_HMAC_SECRET"}
    assert by_variable["BILLBITTS_PRIVATE_KEY_PATH"] == "dpo.E015"
    assert by_variable["DATABASE_URL"] == by_variable["REDIS_URL"] == "dpo.E003"
    assert by_variable["WEBHOOK_SECRET"] == by_variable["API_HMAC_SECRET"] == "dpo.E005"


@pytest.mark.parametrize("command", [OPENSSL, "`openssl rand -hex 32`", "${SECRET}"])
def test_runbook_with_unexpanded_secret_key(command: str) -> None:
    _, problems = check_environment(RUNBOOK | {"DJANGO_SECRET_KEY": command})
    assert {p.variable: p.id for p in problems}["DJANGO_SECRET_KEY"] == "dpo.E005"


def test_runbook_with_generated_signing_secrets() -> None:
    generated = {"WEBHOOK_SECRET": secrets.token_hex(32), "API_HMAC_SECRET": secrets.token_hex(32)}
    _, problems = check_environment(RUNBOOK | generated)
    assert {p.variable for p in problems} == RUNBOOK_PROBLEMS


def test_good_config_has_no_problems(good: dict[str, str]) -> None:
    settings, problems = check_environment(good)
    assert problems == []
    assert settings is not None
    assert settings.is_production
    assert check_deploy(settings, good) == []
    assert format_problems(problems) == "Deployment check found no problems."


@pytest.mark.parametrize(
    ("variable", "value", "problem_id"),
    FLIPS,
    ids=[f"{name}-{problem_id}" for name, _, problem_id in FLIPS],
)
def test_one_change_reports_that_variable(
    good: dict[str, str], tmp_path: Path, variable: str, value: Value, problem_id: str
) -> None:
    env = dict(good)
    value = value(tmp_path) if callable(value) else value
    if value is None:
        env.pop(variable, None)
    else:
        env[variable] = value
    _, problems = check_environment(env)
    assert [(p.variable, p.id) for p in problems] == [(variable, problem_id)]
    severity = Severity.ERROR if problem_id.startswith("dpo.E") else Severity.WARNING
    assert problems[0].severity is severity


def test_secret_key_reported_under_the_name_used(good: dict[str, str]) -> None:
    env = {k: v for k, v in good.items() if k != "DJANGO_SECRET_KEY"} | {"SECRET_KEY": "short"}
    _, problems = check_environment(env)
    assert [(p.variable, p.id) for p in problems] == [("SECRET_KEY", "dpo.E007")]


def test_both_rpc_urls_missing(good: dict[str, str]) -> None:
    env = {k: v for k, v in good.items() if k not in ("QUICKNODE_URL", "BLOCKCHAIN_RPC_URL")}
    _, problems = check_environment(env)
    assert [(p.variable, p.id) for p in problems] == [
        ("QUICKNODE_URL", "dpo.E003"),
        ("BLOCKCHAIN_RPC_URL", "dpo.E003"),
    ]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8545", "ws://localhost:8546", "http://[::1]:8545"]
)
def test_plain_http_to_a_local_node_is_fine(good: dict[str, str], url: str) -> None:
    assert check_environment(good | {"BLOCKCHAIN_RPC_URL": url})[1] == []


def test_variable_names_are_case_insensitive(good: dict[str, str]) -> None:
    env = {k: v for k, v in good.items() if k != "DEBUG"} | {"debug": "true"}
    assert [p.variable for p in check_environment(env)[1]] == ["DEBUG"]


def test_secrets_never_appear_in_the_output(good: dict[str, str]) -> None:
    leaky = {
        "DJANGO_SECRET_KEY": "django-insecure-Kx8DjangoSecretValue",
        "WEBHOOK_SECRET": "ShortWebhookSecret77",
        "API_HMAC_SECRET": "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        "DATABASE_URL": "postgres://dpo:Hunter2DbPassword@db.internal:notaport/dpo",
        "REDIS_URL": "http://:RedisPassword99@cache.internal/0",
        "QUICKNODE_URL": "http://nova.quiknode.pro/QnToken1234567890/",
        "BLOCKCHAIN_RPC_URL": "ws://rpc.example.com/RpcToken9876543210",
        "WALLET_PRIVATE_KEY": "0x" + "ab12" * 15,
    }
    _, problems = check_environment(good | leaky)
    assert {p.variable for p in problems} == set(leaky)
    output = format_problems(problems) + repr(problems)
    for name, value in (good | leaky).items():
        if "KEY" in name or "SECRET" in name or name.endswith("_URL"):
            assert value not in output, name
    for fragment in ("Hunter2DbPassword", "RedisPassword99", "QnToken", "RpcToken", "ab12ab12"):
        assert fragment not in output


def test_invalid_values_do_not_hide_each_other(good: dict[str, str]) -> None:
    env = good | {"START_BLOCK_NUMBER": "abc", "ISSUANCE_CONTRACT_ADDRESS": "0x12", "DEBUG": "1"}
    settings, problems = check_environment(env)
    assert settings is not None
    assert settings.issuance_contract_address is None
    assert [(p.variable, p.id) for p in problems] == [
        ("START_BLOCK_NUMBER", "dpo.E018"),
        ("ISSUANCE_CONTRACT_ADDRESS", "dpo.E018"),
        ("DEBUG", "dpo.E001"),
    ]
    assert "START_BLOCK_NUMBER: is invalid" in format_problems(problems)


def test_reads_only_the_given_mapping(
    good: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ENVIRONMENT=development\n")
    settings, problems = check_environment(good)
    assert problems == []
    assert settings is not None
    assert not settings.debug
    assert settings.is_production


def test_anvil_keys_are_the_default_mnemonic_accounts() -> None:
    Account.enable_unaudited_hdwallet_features()
    mnemonic = "test test test test test test test test test test test junk"
    derived = {
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}").key.hex()
        for i in range(10)
    }
    assert derived == ANVIL_KEYS
    assert ANVIL_KEY_0.removeprefix("0x") in ANVIL_KEYS


def test_format_problems_lines_and_summary() -> None:
    problems = [
        Problem("DEBUG", "is on", "dpo.E001", Severity.ERROR),
        Problem("SECURE_HSTS_SECONDS", "is 0", "dpo.W002", Severity.WARNING),
        Problem("SECURE_SSL_REDIRECT", "is off", "dpo.W001", Severity.WARNING),
    ]
    assert format_problems(problems).splitlines() == [
        "DEBUG: is on [dpo.E001]",
        "SECURE_HSTS_SECONDS: is 0 [dpo.W002]",
        "SECURE_SSL_REDIRECT: is off [dpo.W001]",
        "Deployment check found 3 problems (1 error, 2 warnings).",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        problems[0].message = "changed"  # type: ignore[misc]


def test_unparsable_environment_is_a_problem_not_a_crash(
    good: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(environ: object) -> None:
        raise SettingsError('error parsing value for field "allowed_hosts"')

    monkeypatch.setattr(deploy_environment, "_settings_from", refuse)
    settings, problems = check_environment(good)
    assert settings is None
    assert [(p.variable, p.id) for p in problems] == [("configuration", "dpo.E018")]

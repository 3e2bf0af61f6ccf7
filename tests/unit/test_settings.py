"""Tests of the settings object read from the runbook's environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpo.settings import CONTRACT_VARS, ConfigError, Settings, is_placeholder, load, parse_rate

SECRET = "9c1d4e7f2a5b8c3d6e9f0a1b4c7d2e5f8a3b6c9d0e1f4a7b2c5d8e3f6a9b0c1d"
ADDRESS = "0x0606008C719EFCd9c95B6139de07dDF11bc13040"


def _names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        # Field names count too: populate_by_name makes the env source read them.
        names.update({name.upper(), *(a for a in [field.alias] if a)})
        names.update(getattr(field.validation_alias, "choices", []))
    return names


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings variable from the outside, and no .env file in the working directory."""
    for name in _names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _load_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "SECRET_KEY"])
def test_secret_key_under_either_name(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, SECRET)
    settings = Settings(_env_file=None)
    assert settings.secret_key.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_django_secret_key_wins_over_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", SECRET)
    monkeypatch.setenv("SECRET_KEY", "other")
    assert Settings(_env_file=None).secret_key.get_secret_value() == SECRET


def test_django_settings_module_is_accepted_and_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    without = Settings(_env_file=None).model_dump(exclude={"django_settings_module"})
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings")
    with_it = Settings(_env_file=None)
    assert with_it.django_settings_module == "config.settings"
    assert with_it.model_dump(exclude={"django_settings_module"}) == without


def test_runbook_values_load(monkeypatch: pytest.MonkeyPatch) -> None:
    runbook = {
        "DJANGO_SECRET_KEY": SECRET,
        "DEBUG": "False",
        "ALLOWED_HOSTS": ".railway.app",
        "ENVIRONMENT": "production",
        "SECURE_SSL_REDIRECT": "True",
        "SECURE_HSTS_SECONDS": "31536000",
        "BLOCKCHAIN_NETWORK": "arbitrum-nova",
        "START_BLOCK_NUMBER": "12345678",
        "EUROCLEAR_TIMEOUT": "30",
        "ISSUANCE_CONTRACT_ADDRESS": "0x...",
        "QUICKNODE_URL": "your-quicknode-url",
    }
    for name, value in runbook.items():
        monkeypatch.setenv(name, value)
    settings = load()
    assert settings.is_production
    assert not settings.debug
    assert settings.secure_ssl_redirect
    assert settings.secure_hsts_seconds == 31_536_000
    assert settings.chain_id == 42170
    assert settings.start_block_number == 12_345_678
    assert settings.euroclear_timeout == 30
    assert settings.rpc_urls() == []


@pytest.mark.parametrize(
    "url",
    [
        "postgres://dpo:pw@db.internal:5432/dpo",
        "postgresql://dpo:pw@db.internal/dpo",
        "postgresql+asyncpg://dpo@localhost/dpo",
        "postgresql:///dpo?host=/var/run/postgresql",
    ],
)
def test_database_url_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    settings = Settings(_env_file=None)
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x",
        "postgres://host:notaport/db",
        "not a url",
        "mysql://dpo:TopSecretPw@db/dpo",
        "postgres://dpo:TopSecretPw@db:notaport/dpo",
        "postgres://dpo:TopSecretPw@db:99999/dpo",
        "postgres://dpo:TopSecretPw@/dpo",
        "postgresql://dpo:Top[SecretPw@db/dpo",
    ],
)
def test_database_url_refused_without_echo(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    message = _load_error(monkeypatch, "DATABASE_URL", url)
    assert message.startswith("DATABASE_URL: ")
    assert "SecretPw" not in message
    assert url not in message


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_start_block_number_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert _load_error(monkeypatch, "START_BLOCK_NUMBER", value).startswith("START_BLOCK_NUMBER: ")


@pytest.mark.parametrize("name", CONTRACT_VARS)
@pytest.mark.parametrize("value", ["0x12", ADDRESS + "00", "0x" + "g" * 40, ADDRESS[2:]])
def test_invalid_contract_address_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert _load_error(monkeypatch, name, value).startswith(f"{name}: ")


def test_every_invalid_variable_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("START_BLOCK_NUMBER", "abc")
    message = _load_error(monkeypatch, "STO_CONTRACT_ADDRESS", "0x12")
    assert "START_BLOCK_NUMBER: " in message
    assert "; STO_CONTRACT_ADDRESS: " in message


def test_valid_contract_address_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STO_CONTRACT_ADDRESS", f" {ADDRESS} ")
    assert Settings(_env_file=None).contract_addresses()["STO_CONTRACT_ADDRESS"] == ADDRESS


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QUICKNODE_URL", "your-quicknode-url"),
        ("BLOCKCHAIN_RPC_URL", "your-quicknode-url"),
        ("ISSUANCE_CONTRACT_ADDRESS", "0x..."),
        ("WALLET_PRIVATE_KEY", "0x..."),
        ("OMNISEND_API_KEY", "your-omnisend-api-key"),
        ("BILLBITTS_API_KEY", "your-billbitts-api-key"),
        ("EUROCLEAR_API_KEY", "your-euroclear-key"),
        ("CLEARSTREAM_PMI_KEY", "your-clearstream-key"),
        ("XETRA_API_KEY", "your-xetra-key"),
        ("CLEARSTREAM_PARTICIPANT_ID", "your-participant-id"),
        ("XETRA_PARTICIPANT_ID", "your-participant-id"),
        ("WEBHOOK_SECRET", "changeme"),
        ("DATABASE_URL", ""),
        ("REDIS_URL", "  "),
    ],
)
def test_placeholders_become_none(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    assert getattr(Settings(_env_file=None), name.lower()) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("your-xetra-key", True),
        ("0x...", True),
        (" CHANGEME ", True),
        ("...", True),
        (None, False),
        ("", False),
        ("0x12", False),
        ("https://api.xetra.com", False),
    ],
)
def test_is_placeholder(value: str | None, expected: bool) -> None:
    assert is_placeholder(value) is expected


@pytest.mark.parametrize("name", ["ALLOWED_HOSTS", "CORS_ALLOWED_ORIGINS"])
def test_comma_lists(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    assert getattr(Settings(_env_file=None), name.lower()) == []
    monkeypatch.setenv(name, " https://a.example ,https://b.example,, ")
    assert getattr(Settings(_env_file=None), name.lower()) == [
        "https://a.example",
        "https://b.example",
    ]
    monkeypatch.setenv(name, "*")
    assert getattr(Settings(_env_file=None), name.lower()) == ["*"]


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("100/min", (100, 60)),
        ("20/min", (20, 60)),
        ("5/s", (5, 1)),
        ("10 / hour", (10, 3600)),
        ("1000/day", (1000, 86400)),
        ("7/minute", (7, 60)),
        ("3/sec", (3, 1)),
    ],
)
def test_rate_limit_parse(
    monkeypatch: pytest.MonkeyPatch, rate: str, parsed: tuple[int, int]
) -> None:
    assert parse_rate(rate) == parsed
    monkeypatch.setenv("RATE_LIMIT_USER", rate)
    assert Settings(_env_file=None).rate_limit_user == rate


@pytest.mark.parametrize("rate", ["fast", "100", "100/week", "/min", "-1/min"])
def test_rate_limit_refused(monkeypatch: pytest.MonkeyPatch, rate: str) -> None:
    with pytest.raises(ValueError, match="100/min"):
        parse_rate(rate)
    assert _load_error(monkeypatch, "RATE_LIMIT_USER", rate).startswith("RATE_LIMIT_USER: ")


def test_defaults_without_environment() -> None:
    settings = Settings(_env_file=None)
    assert settings.environment == "development"
    assert not settings.debug
    assert settings.blockchain_network == "anvil"
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.secret_key.get_secret_value() == ""


@pytest.mark.parametrize("value", ["-1", "65536", "80.5", "eighty", "٨٠"])
def test_jobs_metrics_port_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert _load_error(monkeypatch, "JOBS_METRICS_PORT", value).startswith("JOBS_METRICS_PORT: ")


@pytest.mark.parametrize(
    "value", ["-1", "604801", "10**9", "900.5", "fifteen", "٩٠٠", "", "9" * 5000]
)
def test_payment_expiry_grace_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = _load_error(monkeypatch, "PAYMENT_EXPIRY_GRACE_SECONDS", value)
    assert message.startswith("PAYMENT_EXPIRY_GRACE_SECONDS: ")
    assert len(message) < 400


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("900", 900), ("604800", 604800)])
def test_payment_expiry_grace_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int
) -> None:
    monkeypatch.setenv("PAYMENT_EXPIRY_GRACE_SECONDS", value)
    assert Settings(_env_file=None).payment_expiry_grace_seconds == expected


@pytest.mark.parametrize("value", ["0", "3601", "1.5", "-5", "twelve", "", "9" * 400])
def test_payment_claim_lease_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = _load_error(monkeypatch, "PAYMENT_CLAIM_LEASE_SECONDS", value)
    assert message.startswith("PAYMENT_CLAIM_LEASE_SECONDS: ")
    assert len(message) < 400


@pytest.mark.parametrize(("value", "expected"), [(None, 60), ("1", 1), ("3600", 3600)])
def test_payment_claim_lease_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is None:
        monkeypatch.delenv("PAYMENT_CLAIM_LEASE_SECONDS", raising=False)
    else:
        monkeypatch.setenv("PAYMENT_CLAIM_LEASE_SECONDS", value)
    assert Settings(_env_file=None).payment_claim_lease_seconds == expected


@pytest.mark.parametrize("value", ["-1", "10001", "1.5", "twelve", "١٢", "", "9" * 400])
def test_sender_confirmations_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = _load_error(monkeypatch, "SENDER_CONFIRMATIONS", value)
    assert message.startswith("SENDER_CONFIRMATIONS: ")
    assert len(message) < 400


@pytest.mark.parametrize(("value", "expected"), [(None, 12), ("0", 0), ("64", 64), (" 3 ", 3)])
def test_sender_confirmations(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is not None:
        monkeypatch.setenv("SENDER_CONFIRMATIONS", value)
    assert load().sender_confirmations == expected


@pytest.mark.parametrize(
    "value",
    ["0", "99", "-1", "10000001", "1.5", "lots", "ten thousand", "٢٠٠٠٠", "", "9" * 400],
)
def test_listener_max_logs_in_flight_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = _load_error(monkeypatch, "LISTENER_MAX_LOGS_IN_FLIGHT", value)
    assert message.startswith("LISTENER_MAX_LOGS_IN_FLIGHT: ")
    assert len(message) < 400


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 20_000), ("100", 100), ("250000", 250_000), (" 500 ", 500)]
)
def test_listener_max_logs_in_flight(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is not None:
        monkeypatch.setenv("LISTENER_MAX_LOGS_IN_FLIGHT", value)
    assert load().listener_max_logs_in_flight == expected

"""The one settings object, read from the runbook's environment variables.

The fields are grouped by concern in this package's modules (core, web, streaming, chain,
providers); `Settings` joins them, so every variable is validated at the same time and a bad
one stops every command with the same one line (`load`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dpo.settings.chain import ChainSettings
from dpo.settings.core import CoreSettings
from dpo.settings.providers import JobsSettings, MarketSettings, PaymentSettings
from dpo.settings.streaming import StreamingSettings
from dpo.settings.values import (
    ADDRESS,
    CONTRACT_VARS,
    PLACEHOLDER,
    PRIVATE_KEY,
    RATE,
    CommaList,
    ConfigError,
    is_placeholder,
    parse_rate,
)
from dpo.settings.web import WebSettings

__all__ = [
    "ADDRESS",
    "CONTRACT_VARS",
    "PLACEHOLDER",
    "PRIVATE_KEY",
    "RATE",
    "CommaList",
    "ConfigError",
    "Settings",
    "describe",
    "get_settings",
    "is_placeholder",
    "load",
    "parse_rate",
]


# Pydantic collects fields from the last base to the first: listed in reverse, they keep the
# runbook's order (core, web, payments, chain, markets, jobs, streaming).
class Settings(
    StreamingSettings,
    JobsSettings,
    MarketSettings,
    ChainSettings,
    PaymentSettings,
    WebSettings,
    CoreSettings,
    BaseSettings,
):
    """Every variable of the runbook under its own name, plus ours."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    @field_validator("allowed_hosts", "cors_allowed_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "database_url",
        "redis_url",
        "quicknode_url",
        "blockchain_rpc_url",
        "issuance_contract_address",
        "sto_contract_address",
        "derivatives_reporter_contract_address",
        "euroclear_bridge_contract_address",
        "wallet_private_key",
        "webhook_secret",
        "api_hmac_secret",
        "omnisend_api_key",
        "metrics_token",
        "billbitts_api_key",
        "euroclear_api_key",
        "clearstream_pmi_key",
        "xetra_api_key",
        "clearstream_participant_id",
        "xetra_participant_id",
        "billbitts_private_key_path",
        "log_format",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # Placeholders from the runbook and empty strings mean "not configured".
        if isinstance(value, str):
            value = value.strip()
            return None if not value or is_placeholder(value) else value
        return value

    def secret_values(self) -> list[str]:
        """Every configured secret as it could appear in a log line (logs redact them).

        The SecretStr values, and the passwords inside the server URLs (a driver's error may
        quote a URL).
        """
        values: set[str] = set()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.add(value.get_secret_value())
                password = (
                    urlsplit(value.get_secret_value()).password
                    if "://" in (value.get_secret_value())
                    else None
                )
                if password:
                    values.add(password)
        # Short values would redact ordinary words; no real secret is this short.
        return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)

    @property
    def trusted_proxies(self) -> list[str]:
        """FORWARDED_ALLOW_IPS as served: `*` in production and loopback elsewhere when unset."""
        if self.forwarded_allow_ips:
            return list(self.forwarded_allow_ips)
        return ["*"] if self.is_production else ["127.0.0.1", "::1"]


def describe(error: ValidationError) -> list[str]:
    """One line per invalid variable, never echoing a secret."""
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "configuration"
        field = Settings.model_fields.get(name)
        if field is not None and isinstance(field.validation_alias, AliasChoices):
            name = "DJANGO_SECRET_KEY"
        elif field is not None and field.alias:
            name = field.alias
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return lines


def load() -> Settings:
    """Read the settings, raising ConfigError with one line per invalid variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError("; ".join(describe(error))) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load()

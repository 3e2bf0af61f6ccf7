"""The process itself: identity, environment, servers, local data and logging."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator

from dpo.settings.values import CommaList


class CoreSettings(BaseModel):
    """Core variables (Django's names keep working), the servers and logging."""

    secret_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("DJANGO_SECRET_KEY", "SECRET_KEY")
    )
    django_settings_module: str | None = Field(default=None, alias="DJANGO_SETTINGS_MODULE")
    debug: bool = Field(default=False, alias="DEBUG")
    allowed_hosts: CommaList = Field(default_factory=list, alias="ALLOWED_HOSTS")
    environment: Literal["development", "test", "staging", "production"] = Field(
        default="development", alias="ENVIRONMENT"
    )
    port: int = Field(default=8000, ge=1, le=65535, alias="PORT")
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    redis_url: SecretStr | None = Field(default=None, alias="REDIS_URL")
    # Pub/sub channels are shared by every database of a Redis server: names carry this
    # prefix and the URL's database number (dpo/channels.py).
    redis_channel_prefix: str = Field(
        default="dpo", pattern=r"^[A-Za-z0-9._-]{1,64}$", alias="REDIS_CHANNEL_PREFIX"
    )
    data_dir: Path = Field(default=Path(".dpo"), alias="DPO_DATA_DIR")
    # Fixed local ports, so a second start finds and reuses the first one's servers.
    embedded_pg_port: int = Field(default=54320, ge=1024, le=65535, alias="DPO_PG_PORT")
    embedded_redis_port: int = Field(default=63790, ge=1024, le=65535, alias="DPO_REDIS_PORT")
    embedded_anvil_port: int = Field(default=8545, ge=1024, le=65535, alias="DPO_ANVIL_PORT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", alias="LOG_LEVEL"
    )
    # One JSON object per line (Railway's log explorer parses them) or plain text; unset: JSON
    # in production, text elsewhere (dpo/logs.py).
    log_format: Literal["json", "text"] | None = Field(default=None, alias="LOG_FORMAT")

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in ("postgres", "postgresql"):
            raise ValueError("must be a postgres:// or postgresql:// URL")
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("has no host")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    @field_validator("redis_url", mode="after")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    @property
    def is_production(self) -> bool:
        """Tell whether this is a production environment."""
        return self.environment == "production"

    @property
    def log_json(self) -> bool:
        """Whether log lines are JSON objects: LOG_FORMAT, or JSON in production when unset."""
        return self.log_format == "json" if self.log_format else self.is_production

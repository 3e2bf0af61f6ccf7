"""The one settings object, read from the runbook's environment variables."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dpo.chain_ids import NETWORKS
from dpo.inputs import is_ascii_digits

# Values the runbook shows as examples; in the environment they mean "not configured yet".
PLACEHOLDER = re.compile(r"^(your-[\w.-]*|0x\.\.\.|changeme|change-me|\.\.\.)$", re.IGNORECASE)
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
RATE = re.compile(r"^\s*([0-9]+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
CONTRACT_VARS = (
    "ISSUANCE_CONTRACT_ADDRESS",
    "STO_CONTRACT_ADDRESS",
    "DERIVATIVES_REPORTER_CONTRACT_ADDRESS",
    "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS",
)
_RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

CommaList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """A configuration problem, phrased as one line naming the variable."""


def is_placeholder(value: str | None) -> bool:
    """Tell whether a value is one of the runbook's example placeholders."""
    return value is not None and bool(PLACEHOLDER.match(value.strip()))


def parse_rate(value: str) -> tuple[int, int]:
    """Parse `100/min` into (requests, seconds)."""
    match = RATE.match(value)
    if not match:
        raise ValueError(f"must look like 100/min (N per s, min, hour or day), got {value!r}")
    return int(match.group(1)), _RATE_PERIODS[match.group(2)[0]]


class Settings(BaseSettings):
    """Every variable of the runbook under its own name, plus ours."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Core (Django names keep working).
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
    redis_channel_prefix: str = Field(default="dpo", pattern=r"^[A-Za-z0-9._-]{1,64}$",
                                      alias="REDIS_CHANNEL_PREFIX")
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

    # Security.
    secure_ssl_redirect: bool = Field(default=False, alias="SECURE_SSL_REDIRECT")
    secure_hsts_seconds: int = Field(default=0, ge=0, alias="SECURE_HSTS_SECONDS")
    cors_allowed_origins: CommaList = Field(default_factory=list, alias="CORS_ALLOWED_ORIGINS")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    api_hmac_secret: SecretStr | None = Field(default=None, alias="API_HMAC_SECRET")
    rate_limit_user: str = Field(default="100/min", alias="RATE_LIMIT_USER")
    rate_limit_anon: str = Field(default="20/min", alias="RATE_LIMIT_ANON")
    # Peers whose X-Forwarded-For/-Proto are read (app/forwarded.py): IPs or networks, or `*`;
    # empty: `*` in production (Railway's edge, whose addresses are not published), loopback
    # elsewhere. The client is the entry FORWARDED_PROXY_COUNT places from the right.
    forwarded_allow_ips: CommaList = Field(default_factory=list, alias="FORWARDED_ALLOW_IPS")
    forwarded_proxy_count: int = Field(default=1, ge=1, le=10, alias="FORWARDED_PROXY_COUNT")
    forwarded_for_header: Literal["X-Forwarded-For", "X-Real-IP"] = Field(
        default="X-Forwarded-For", alias="FORWARDED_FOR_HEADER")
    # Slow clients (slowloris): seconds to send a request's headers, then its body.
    http_header_timeout: float = Field(default=10.0, gt=0, le=300, alias="HTTP_HEADER_TIMEOUT")
    http_body_timeout: float = Field(default=30.0, gt=0, le=3600, alias="HTTP_BODY_TIMEOUT")
    # Idle seconds a kept-alive connection stays open. Railway's edge proxy keeps its idle
    # upstream connections 60 s: closing ours first (uvicorn's default is 5 s) races a request
    # the proxy is sending on it, which the client sees as a 502. Above 60, the proxy closes first.
    http_keep_alive_seconds: int = Field(default=65, ge=1, le=3600,
                                         alias="HTTP_KEEP_ALIVE_SECONDS")
    # On SIGTERM `dpo web` stops accepting, closes WebSockets (1001) and SSE streams at once, and
    # gives in-flight HTTP requests this long to finish; it must stay below the service's
    # drainingSeconds (railway.toml), after which Railway sends SIGKILL (docs/RUNBOOK.md).
    web_drain_seconds: int = Field(default=10, ge=0, le=3600, alias="WEB_DRAIN_SECONDS")
    # A GraphQL operation still executing after this long is stopped with LIMIT_EXCEEDED.
    graphql_execution_seconds: float = Field(default=10.0, gt=0, le=300,
                                             alias="GRAPHQL_EXECUTION_SECONDS")
    # Query cost (schema/cost.py): objects an operation may return, estimated before it runs;
    # refused over GRAPHQL_MAX_COST, or once the caller spent GRAPHQL_COST_PER_MINUTE (Redis).
    graphql_max_cost: int = Field(default=5_000, ge=1, le=10**9, alias="GRAPHQL_MAX_COST")
    graphql_cost_per_minute: int = Field(default=50_000, ge=1, le=10**12,
                                         alias="GRAPHQL_COST_PER_MINUTE")
    # Bearer token for /metrics from outside the private network (unset: private only).
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")
    # The domain Sign-In with Ethereum messages must name; defaults to ALLOWED_HOSTS[0].
    siwe_domain: str | None = Field(default=None, alias="SIWE_DOMAIN")

    # GraphQL response cache (app/response_cache.py): query answers per caller, dropped on
    # every committed write; a lost invalidation can leave an answer stale at most this long.
    response_cache: bool = Field(default=True, alias="RESPONSE_CACHE")
    response_cache_max_age: float = Field(default=2.0, gt=0, le=60,
                                          alias="RESPONSE_CACHE_MAX_AGE")
    response_cache_max_entries: int = Field(default=10_000, ge=1, le=1_000_000,
                                            alias="RESPONSE_CACHE_MAX_ENTRIES")
    response_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024,
                                          alias="RESPONSE_CACHE_MAX_BYTES")

    # Email (Omnisend).
    omnisend_api_key: SecretStr | None = Field(default=None, alias="OMNISEND_API_KEY")
    omnisend_api_base: str = Field(default="https://api.omnisend.com/v3", alias="OMNISEND_API_BASE")
    default_from_email: str = Field(default="noreply@dtcc-sto.com", alias="DEFAULT_FROM_EMAIL")
    omnisend_timeout: float = Field(default=30, gt=0, le=600, alias="OMNISEND_TIMEOUT")

    # Payments (BillBitts).
    billbitts_api_key: SecretStr | None = Field(default=None, alias="BILLBITTS_API_KEY")
    billbitts_api_url: str = Field(
        default="https://api.billbitcoins.com", alias="BILLBITTS_API_URL"
    )
    billbitts_private_key_path: Path | None = Field(
        default=None, alias="BILLBITTS_PRIVATE_KEY_PATH"
    )
    billbitts_timeout: float = Field(default=10, gt=0, le=600, alias="BILLBITTS_TIMEOUT")
    # How long an investor has to pay an order on BillBitts' page before it expires.
    payment_expiry_seconds: int = Field(default=86_400, ge=300, le=30 * 86_400,
                                        alias="PAYMENT_EXPIRY_SECONDS")

    # Blockchain.
    quicknode_url: SecretStr | None = Field(default=None, alias="QUICKNODE_URL")
    blockchain_rpc_url: SecretStr | None = Field(default=None, alias="BLOCKCHAIN_RPC_URL")
    blockchain_network: str = Field(default="anvil", alias="BLOCKCHAIN_NETWORK")
    start_block_number: int = Field(default=0, ge=0, alias="START_BLOCK_NUMBER")
    issuance_contract_address: str | None = Field(default=None, alias="ISSUANCE_CONTRACT_ADDRESS")
    sto_contract_address: str | None = Field(default=None, alias="STO_CONTRACT_ADDRESS")
    derivatives_reporter_contract_address: str | None = Field(
        default=None, alias="DERIVATIVES_REPORTER_CONTRACT_ADDRESS"
    )
    euroclear_bridge_contract_address: str | None = Field(
        default=None, alias="EUROCLEAR_BRIDGE_CONTRACT_ADDRESS"
    )
    wallet_private_key: SecretStr | None = Field(default=None, alias="WALLET_PRIVATE_KEY")

    # Listener knobs.
    listener_confirmations: int = Field(default=0, ge=0, le=10_000, alias="LISTENER_CONFIRMATIONS")
    listener_use_finalized: bool = Field(default=False, alias="LISTENER_USE_FINALIZED")
    listener_poll_interval: float = Field(default=1.0, gt=0, le=300, alias="LISTENER_POLL_INTERVAL")
    listener_batch_blocks: int = Field(default=2_000, ge=1, alias="LISTENER_BATCH_BLOCKS")
    listener_max_batch_blocks: int = Field(default=50_000, ge=1, alias="LISTENER_MAX_BATCH_BLOCKS")
    listener_reorg_window: int = Field(default=128, ge=1, le=10_000, alias="LISTENER_REORG_WINDOW")
    listener_concurrency: int = Field(default=4, ge=1, le=64, alias="LISTENER_CONCURRENCY")
    listener_header_batch: int = Field(default=100, ge=1, le=1_000, alias="LISTENER_HEADER_BATCH")
    listener_metrics_port: int = Field(default=0, ge=0, le=65_535, alias="LISTENER_METRICS_PORT")
    rpc_timeout: float = Field(default=15.0, gt=0, le=300, alias="RPC_TIMEOUT")

    # The platform wallet's transaction sender (docs/SENDER.md).
    sender_poll_interval: float = Field(default=1.0, gt=0, le=300, alias="SENDER_POLL_INTERVAL")
    sender_max_in_flight: int = Field(default=64, ge=1, le=10_000, alias="SENDER_MAX_IN_FLIGHT")
    sender_replace_after: float = Field(default=60.0, gt=0, le=86_400,
                                        alias="SENDER_REPLACE_AFTER")
    sender_resend_after: float = Field(default=15.0, gt=0, le=86_400, alias="SENDER_RESEND_AFTER")
    sender_nonce_taken_after: float = Field(default=30.0, ge=0, le=86_400,
                                            alias="SENDER_NONCE_TAKEN_AFTER")
    sender_max_fee_gwei: Decimal = Field(default=Decimal(100), gt=0, le=1_000_000,
                                         alias="SENDER_MAX_FEE_GWEI")
    sender_max_priority_fee_gwei: Decimal = Field(default=Decimal(5), ge=0, le=1_000_000,
                                                  alias="SENDER_MAX_PRIORITY_FEE_GWEI")
    sender_fee_bump_percent: int = Field(default=12, ge=10, le=1_000,
                                         alias="SENDER_FEE_BUMP_PERCENT")
    sender_gas_headroom_percent: int = Field(default=20, ge=0, le=1_000,
                                             alias="SENDER_GAS_HEADROOM_PERCENT")
    sender_metrics_port: int = Field(default=0, ge=0, le=65_535, alias="SENDER_METRICS_PORT")

    # Financial market APIs.
    euroclear_api_base: str = Field(default="https://api.euroclear.com", alias="EUROCLEAR_API_BASE")
    euroclear_api_key: SecretStr | None = Field(default=None, alias="EUROCLEAR_API_KEY")
    euroclear_timeout: float = Field(default=30, gt=0, le=600, alias="EUROCLEAR_TIMEOUT")
    clearstream_pmi_base: str = Field(
        default="https://api.clearstream.com", alias="CLEARSTREAM_PMI_BASE"
    )
    clearstream_pmi_key: SecretStr | None = Field(default=None, alias="CLEARSTREAM_PMI_KEY")
    clearstream_participant_id: str | None = Field(default=None, alias="CLEARSTREAM_PARTICIPANT_ID")
    clearstream_timeout: float = Field(default=30, gt=0, le=600, alias="CLEARSTREAM_TIMEOUT")
    xetra_api_base: str = Field(default="https://api.xetra.com", alias="XETRA_API_BASE")
    xetra_api_key: SecretStr | None = Field(default=None, alias="XETRA_API_KEY")
    xetra_participant_id: str | None = Field(default=None, alias="XETRA_PARTICIPANT_ID")
    xetra_timeout: float = Field(default=30, gt=0, le=600, alias="XETRA_TIMEOUT")
    # The ECB's daily euro reference rates (public, no key).
    ecb_fx_url: str = Field(
        default="https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml",
        alias="ECB_FX_URL",
    )
    ecb_timeout: float = Field(default=30, gt=0, le=600, alias="ECB_TIMEOUT")

    # Every provider call (dpo/providers/http.py): retries with backoff and jitter on 5xx,
    # 429 and connection errors, within a total budget; then a circuit breaker per provider.
    provider_retry_attempts: int = Field(default=4, ge=1, le=20, alias="PROVIDER_RETRY_ATTEMPTS")
    provider_retry_seconds: float = Field(default=60, gt=0, le=3600,
                                          alias="PROVIDER_RETRY_SECONDS")
    provider_retry_wait_initial: float = Field(default=0.5, ge=0, le=60,
                                               alias="PROVIDER_RETRY_WAIT_INITIAL")
    provider_retry_wait_max: float = Field(default=10, ge=0, le=600,
                                           alias="PROVIDER_RETRY_WAIT_MAX")
    provider_retry_after_max: float = Field(default=30, ge=0, le=3600,
                                            alias="PROVIDER_RETRY_AFTER_MAX")
    provider_breaker_threshold: int = Field(default=5, ge=1, le=1000,
                                            alias="PROVIDER_BREAKER_THRESHOLD")
    provider_breaker_reset_seconds: float = Field(default=60, gt=0, le=86_400,
                                                  alias="PROVIDER_BREAKER_RESET_SECONDS")
    provider_max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024,
                                             le=1024 * 1024 * 1024,
                                             alias="PROVIDER_MAX_RESPONSE_BYTES")

    # The cron service (jobs/scheduler.py): the runbook's intervals, or short ones for demos;
    # on SIGTERM a running job gets this long to finish before it is stopped (Railway drains 30 s).
    jobs_schedule: Literal["runbook", "demo"] = Field(default="runbook", alias="JOBS_SCHEDULE")
    jobs_stop_seconds: float = Field(default=20, ge=0, le=3600, alias="JOBS_STOP_SECONDS")
    # Serve the scheduler's Prometheus metrics (job runs, the outbox) on this port; 0 = off.
    jobs_metrics_port: int = Field(default=0, ge=0, le=65_535, alias="JOBS_METRICS_PORT")
    # Where ops notifications (new breaks, failed jobs) go; unset: they wait in the outbox.
    ops_email: str | None = Field(default=None, alias="OPS_EMAIL")

    @field_validator("allowed_hosts", "cors_allowed_origins", "forwarded_allow_ips",
                     mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "database_url", "redis_url", "quicknode_url", "blockchain_rpc_url",
        "issuance_contract_address", "sto_contract_address",
        "derivatives_reporter_contract_address", "euroclear_bridge_contract_address",
        "wallet_private_key", "webhook_secret", "api_hmac_secret", "omnisend_api_key",
        "metrics_token",
        "billbitts_api_key", "euroclear_api_key", "clearstream_pmi_key", "xetra_api_key",
        "clearstream_participant_id", "xetra_participant_id", "billbitts_private_key_path",
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

    @field_validator("graphql_cost_per_minute", mode="after")
    @classmethod
    def _check_cost_budget(cls, value: int, info: ValidationInfo) -> int:
        most = info.data.get("graphql_max_cost")
        if isinstance(most, int) and value < most:
            raise ValueError(f"must be at least GRAPHQL_MAX_COST ({most}), or no request of "
                             "that cost could ever run")
        return value

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

    @field_validator("quicknode_url", "blockchain_rpc_url", mode="after")
    @classmethod
    def _check_rpc_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value

    @field_validator(
        "issuance_contract_address", "sto_contract_address",
        "derivatives_reporter_contract_address", "euroclear_bridge_contract_address",
        mode="after",
    )
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not ADDRESS.match(value.strip()):
            raise ValueError(f"must be a 0x-prefixed 20-byte hex address, got {value!r}")
        return value.strip()

    @field_validator("wallet_private_key", mode="after")
    @classmethod
    def _check_private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not PRIVATE_KEY.match(value.get_secret_value().strip()):
            raise ValueError("must be a 32-byte hex private key")
        return value

    @field_validator("blockchain_network", mode="after")
    @classmethod
    def _check_network(cls, value: str) -> str:
        if value not in NETWORKS and not is_ascii_digits(value):
            known = ", ".join(sorted(NETWORKS))
            raise ValueError(f"unknown network {value!r}; use one of {known} or a chain id")
        return value

    @field_validator("forwarded_allow_ips", mode="after")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address, a network or *") from None
        return value

    @field_validator("rate_limit_user", "rate_limit_anon", mode="after")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @property
    def chain_id(self) -> int:
        """The chain id BLOCKCHAIN_NETWORK stands for."""
        return NETWORKS.get(self.blockchain_network) or int(self.blockchain_network)

    @property
    def log_json(self) -> bool:
        """Whether log lines are JSON objects: LOG_FORMAT, or JSON in production when unset."""
        return self.log_format == "json" if self.log_format else self.is_production

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
                password = urlsplit(value.get_secret_value()).password if "://" in (
                    value.get_secret_value()) else None
                if password:
                    values.add(password)
        # Short values would redact ordinary words; no real secret is this short.
        return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)

    @property
    def is_production(self) -> bool:
        """Tell whether this is a production environment."""
        return self.environment == "production"

    @property
    def trusted_proxies(self) -> list[str]:
        """FORWARDED_ALLOW_IPS as served: `*` in production and loopback elsewhere when unset."""
        if self.forwarded_allow_ips:
            return list(self.forwarded_allow_ips)
        return ["*"] if self.is_production else ["127.0.0.1", "::1"]

    def contract_addresses(self) -> dict[str, str | None]:
        """The four contract addresses by their variable name."""
        return {name: getattr(self, name.lower()) for name in CONTRACT_VARS}

    def rpc_urls(self) -> list[str]:
        """The RPC endpoints in failover order, without duplicates."""
        urls: list[str] = []
        for secret in (self.quicknode_url, self.blockchain_rpc_url):
            if secret is not None and secret.get_secret_value() not in urls:
                urls.append(secret.get_secret_value())
        return urls


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

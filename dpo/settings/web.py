"""The web service: security, proxies, HTTP deadlines, GraphQL limits and the response cache."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from dpo.settings.values import CommaList, parse_rate


class WebSettings(BaseModel):
    """What `dpo web` serves HTTP and GraphQL with."""

    # Security.
    secure_ssl_redirect: bool = Field(default=False, alias="SECURE_SSL_REDIRECT")
    secure_hsts_seconds: int = Field(default=0, ge=0, alias="SECURE_HSTS_SECONDS")
    cors_allowed_origins: CommaList = Field(default_factory=list, alias="CORS_ALLOWED_ORIGINS")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    api_hmac_secret: SecretStr | None = Field(default=None, alias="API_HMAC_SECRET")
    rate_limit_user: str = Field(default="100/min", alias="RATE_LIMIT_USER")
    rate_limit_anon: str = Field(default="20/min", alias="RATE_LIMIT_ANON")
    # Peers whose X-Forwarded-For/-Proto are read (app/http/forwarded.py): IPs or networks, or `*`;
    # empty: `*` in production (Railway's edge, whose addresses are not published), loopback
    # elsewhere. The client is the entry FORWARDED_PROXY_COUNT places from the right.
    forwarded_allow_ips: CommaList = Field(default_factory=list, alias="FORWARDED_ALLOW_IPS")
    forwarded_proxy_count: int = Field(default=1, ge=1, le=10, alias="FORWARDED_PROXY_COUNT")
    forwarded_for_header: Literal["X-Forwarded-For", "X-Real-IP"] = Field(
        default="X-Forwarded-For", alias="FORWARDED_FOR_HEADER"
    )
    # Slow clients (slowloris): seconds to send a request's headers, then its body.
    http_header_timeout: float = Field(default=10.0, gt=0, le=300, alias="HTTP_HEADER_TIMEOUT")
    http_body_timeout: float = Field(default=30.0, gt=0, le=3600, alias="HTTP_BODY_TIMEOUT")
    # Idle seconds a kept-alive connection stays open. Railway's edge proxy keeps its idle
    # upstream connections 60 s: closing ours first (uvicorn's default is 5 s) races a request
    # the proxy is sending on it, which the client sees as a 502. Above 60, the proxy closes first.
    http_keep_alive_seconds: int = Field(default=65, ge=1, le=3600, alias="HTTP_KEEP_ALIVE_SECONDS")
    # On SIGTERM `dpo web` stops accepting, closes WebSockets (1001) and SSE streams at once, and
    # gives in-flight HTTP requests this long to finish; it must stay below the service's
    # drainingSeconds (railway.toml), after which Railway sends SIGKILL (docs/RUNBOOK.md).
    web_drain_seconds: int = Field(default=10, ge=0, le=3600, alias="WEB_DRAIN_SECONDS")
    # Worker processes of `dpo web` (gunicorn's and uvicorn's name, which platforms such as
    # Railway and Heroku set); unset: one per core the process may use (app/server/cores.py).
    # 1 serves from the command's own process, as before workers existed.
    web_concurrency: int | None = Field(default=None, ge=1, le=64, alias="WEB_CONCURRENCY")
    # A GraphQL operation still executing after this long is stopped with LIMIT_EXCEEDED.
    graphql_execution_seconds: float = Field(
        default=10.0, gt=0, le=300, alias="GRAPHQL_EXECUTION_SECONDS"
    )
    # Query cost (schema/cost.py): objects an operation may return, estimated before it runs;
    # refused over GRAPHQL_MAX_COST, or once the caller spent GRAPHQL_COST_PER_MINUTE (Redis).
    graphql_max_cost: int = Field(default=5_000, ge=1, le=10**9, alias="GRAPHQL_MAX_COST")
    graphql_cost_per_minute: int = Field(
        default=50_000, ge=1, le=10**12, alias="GRAPHQL_COST_PER_MINUTE"
    )
    # Bearer token for /metrics from outside the private network (unset: private only).
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")
    # The domain Sign-In with Ethereum messages must name; defaults to ALLOWED_HOSTS[0].
    siwe_domain: str | None = Field(default=None, alias="SIWE_DOMAIN")

    # GraphQL response cache (app/graphql/response_cache.py): query answers per caller, dropped on
    # every committed write; a lost invalidation can leave an answer stale at most this long.
    response_cache: bool = Field(default=True, alias="RESPONSE_CACHE")
    response_cache_max_age: float = Field(default=2.0, gt=0, le=60, alias="RESPONSE_CACHE_MAX_AGE")
    response_cache_max_entries: int = Field(
        default=10_000, ge=1, le=1_000_000, alias="RESPONSE_CACHE_MAX_ENTRIES"
    )
    response_cache_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, alias="RESPONSE_CACHE_MAX_BYTES"
    )

    @field_validator("graphql_cost_per_minute", mode="after")
    @classmethod
    def _check_cost_budget(cls, value: int, info: ValidationInfo) -> int:
        most = info.data.get("graphql_max_cost")
        if isinstance(most, int) and value < most:
            raise ValueError(
                f"must be at least GRAPHQL_MAX_COST ({most}), or no request of "
                "that cost could ever run"
            )
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

"""Outside services: email, payments, market data, how every call to them is retried; jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class PaymentSettings(BaseModel):
    """The email and payment providers."""

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
    payment_expiry_seconds: int = Field(
        default=86_400, ge=300, le=30 * 86_400, alias="PAYMENT_EXPIRY_SECONDS"
    )
    # How long after a payment's expiry the order is checked with BillBitts and cancelled
    # when BillBitts never said `expired` (its webhook may simply be late).
    payment_expiry_grace_seconds: int = Field(
        default=900, ge=0, le=7 * 86_400, alias="PAYMENT_EXPIRY_GRACE_SECONDS"
    )
    # How long an order claimed by the payment worker (for its request, expiry check or
    # remote cancel) is left to it: a worker killed mid-pass leaves its claims to this.
    payment_claim_lease_seconds: int = Field(
        default=60, ge=1, le=3600, alias="PAYMENT_CLAIM_LEASE_SECONDS"
    )


class MarketSettings(BaseModel):
    """Market data providers, the retries and circuit breakers of every provider call."""

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
    provider_retry_seconds: float = Field(default=60, gt=0, le=3600, alias="PROVIDER_RETRY_SECONDS")
    provider_retry_wait_initial: float = Field(
        default=0.5, ge=0, le=60, alias="PROVIDER_RETRY_WAIT_INITIAL"
    )
    provider_retry_wait_max: float = Field(
        default=10, ge=0, le=600, alias="PROVIDER_RETRY_WAIT_MAX"
    )
    provider_retry_after_max: float = Field(
        default=30, ge=0, le=3600, alias="PROVIDER_RETRY_AFTER_MAX"
    )
    provider_breaker_threshold: int = Field(
        default=5, ge=1, le=1000, alias="PROVIDER_BREAKER_THRESHOLD"
    )
    provider_breaker_reset_seconds: float = Field(
        default=60, gt=0, le=86_400, alias="PROVIDER_BREAKER_RESET_SECONDS"
    )
    provider_max_response_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        alias="PROVIDER_MAX_RESPONSE_BYTES",
    )


class JobsSettings(BaseModel):
    """The cron service."""

    # The cron service (jobs/scheduler.py): the runbook's intervals, or short ones for demos;
    # on SIGTERM a running job gets this long to finish before it is stopped (Railway drains 30 s).
    jobs_schedule: Literal["runbook", "demo"] = Field(default="runbook", alias="JOBS_SCHEDULE")
    jobs_stop_seconds: float = Field(default=20, ge=0, le=3600, alias="JOBS_STOP_SECONDS")
    # Serve the scheduler's Prometheus metrics (job runs, the outbox) on this port; 0 = off.
    jobs_metrics_port: int = Field(default=0, ge=0, le=65_535, alias="JOBS_METRICS_PORT")
    # Where ops notifications (new breaks, failed jobs) go; unset: they wait in the outbox.
    ops_email: str | None = Field(default=None, alias="OPS_EMAIL")

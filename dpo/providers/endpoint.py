"""What one provider client is built from: where the provider is, how we authenticate to it
(`Endpoint`) and how hard one call tries before giving up (`RetryPolicy`, from the
PROVIDER_* settings). dpo.providers.http makes the calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from dpo.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one call before giving up."""

    attempts: int = 4
    total_seconds: float = 60.0
    wait_initial: float = 0.5
    wait_max: float = 10.0
    retry_after_max: float = 30.0
    max_response_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the PROVIDER_* settings describe."""
        return cls(
            attempts=settings.provider_retry_attempts,
            total_seconds=settings.provider_retry_seconds,
            wait_initial=settings.provider_retry_wait_initial,
            wait_max=settings.provider_retry_wait_max,
            retry_after_max=settings.provider_retry_after_max,
            max_response_bytes=settings.provider_max_response_bytes,
        )


@dataclass(frozen=True)
class Endpoint:
    """Where a provider is and how we authenticate to it."""

    provider: str
    base_url: str
    timeout: float
    api_key: SecretStr | None = field(default=None, repr=False)
    key_header: str = "Authorization"
    key_prefix: str = "Bearer "
    headers: Mapping[str, str] = field(default_factory=dict)
    # Extra headers signing each attempt: (method, URL path, body) -> headers (BillBitts).
    signer: Callable[[str, str, bytes], Mapping[str, str]] | None = field(default=None, repr=False)

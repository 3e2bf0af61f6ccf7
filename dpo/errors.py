"""Domain errors with the stable codes clients see in `extensions.code`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The stable error codes of the API."""

    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    UNSUPPORTED_TRANSPORT = "UNSUPPORTED_TRANSPORT"
    INTERNAL = "INTERNAL"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    PROVIDER_MALFORMED = "PROVIDER_MALFORMED"


class DomainError(Exception):
    """An expected failure a client can act on; never carries secrets."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(DomainError):
    """The thing asked for does not exist, or the caller may not know it exists."""

    code = ErrorCode.NOT_FOUND


class ForbiddenError(DomainError):
    """The caller is known but may not do this."""

    code = ErrorCode.FORBIDDEN


class UnauthenticatedError(DomainError):
    """The caller must sign in first, or their credentials are invalid or expired."""

    code = ErrorCode.UNAUTHENTICATED


class ValidationError(DomainError):
    """The input breaks a rule; `details` may name the field."""

    code = ErrorCode.VALIDATION


class ConflictError(DomainError):
    """The request clashes with the current state (wrong status, duplicate)."""

    code = ErrorCode.CONFLICT


class RateLimitedError(DomainError):
    """Too many requests; retry after `retry_after` seconds."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int) -> None:
        # As in the HTTP 429's body: extensions {"code": "RATE_LIMITED", "retryAfter": N}.
        super().__init__(message, retryAfter=retry_after)
        self.retry_after = retry_after


class ProviderError(DomainError):
    """An outside provider (ECB, Xetra, a CSD, Omnisend) failed us; `provider` names it.

    Messages are ours, never the provider's body, a URL or a header, so no secret can leak.
    """

    def __init__(self, provider: str, message: str, **details: Any) -> None:
        super().__init__(f"{provider}: {message}", provider=provider, **details)
        self.provider = provider


class ProviderUnavailable(ProviderError):  # noqa: N818 (the names of the vocabulary)
    """The provider did not answer usefully (down, 5xx, 429, timeout, circuit open); retry later."""

    code = ErrorCode.PROVIDER_UNAVAILABLE


class ProviderRejected(ProviderError):  # noqa: N818
    """The provider refused our request (4xx other than 429): retrying the same will not help."""

    code = ErrorCode.PROVIDER_REJECTED


class ProviderMalformed(ProviderError):  # noqa: N818
    """The provider answered, but not in the format we expect (bad syntax or wrong schema)."""

    code = ErrorCode.PROVIDER_MALFORMED


class LimitExceededError(DomainError):
    """The request is over one of the API's limits (size, nesting, cost)."""

    code = ErrorCode.LIMIT_EXCEEDED


class UnsupportedTransportError(DomainError):
    """The operation cannot run over the transport it came by (a subscription over plain HTTP)."""

    code = ErrorCode.UNSUPPORTED_TRANSPORT

"""What an investor's profile must look like, and which KYC decision may follow which (pure)."""

from __future__ import annotations

import re

from dpo.db.models.enums import KycStatus
from dpo.errors import ValidationError

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")

# Which KYC decisions may follow which; re-screening starts again from pending.
KYC_TRANSITIONS: dict[str, frozenset[str]] = {
    KycStatus.PENDING: frozenset({KycStatus.APPROVED, KycStatus.REJECTED}),
    KycStatus.APPROVED: frozenset({KycStatus.EXPIRED, KycStatus.REJECTED}),
    KycStatus.EXPIRED: frozenset({KycStatus.PENDING, KycStatus.APPROVED, KycStatus.REJECTED}),
    KycStatus.REJECTED: frozenset({KycStatus.PENDING}),
}


def clean_name(full_name: str) -> str:
    """A full name, trimmed: 1 to 200 characters."""
    name = full_name.strip()
    if not name or len(name) > 200:
        raise ValidationError("full name must be 1 to 200 characters", field="fullName")
    return name


def clean_email(email: str) -> str:
    """An e-mail address, trimmed: one @, a dotted domain, at most 320 characters."""
    value = email.strip()
    if len(value) > 320 or not EMAIL.match(value):
        raise ValidationError("not an e-mail address", field="email")
    return value


def clean_country(country: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased."""
    value = country.strip().upper()
    if not COUNTRY.match(value):
        raise ValidationError("country must be an ISO 3166-1 alpha-2 code", field="country")
    return value

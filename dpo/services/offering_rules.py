"""The rules an offering's editable fields must satisfy; each refusal names the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dpo.db.models.enums import Regulation, SecurityType
from dpo.errors import ValidationError
from dpo.services import codes

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")
# The columns a caller may set; status, totals and on-chain ids are the system's.
EDITABLE = (
    "isin",
    "name",
    "symbol",
    "description",
    "security_type",
    "regulation",
    "currency",
    "unit_price",
    "min_ticket",
    "max_ticket",
    "soft_cap",
    "hard_cap",
    "opens_at",
    "closes_at",
    "allowed_countries",
)
# isin may be left out: Clearstream PMI allocates one (sync_csd); opening needs it.
REQUIRED = ("name", "symbol", "security_type", "regulation", "currency", "unit_price")


def check_offering(values: Mapping[str, Any]) -> None:
    """Every rule an offering's editable fields must satisfy, naming the first broken field."""
    for name in REQUIRED:
        if values.get(name) is None:
            raise ValidationError(f"{name} is required", field=name)
    if values.get("isin") is not None and not codes.is_valid_isin(values["isin"]):
        raise ValidationError("isin is not a valid ISIN", field="isin")
    name = values["name"]
    if not name.strip() or len(name) > 200:
        raise ValidationError("name must be 1 to 200 characters", field="name")
    if not SYMBOL_RE.match(values["symbol"]):
        raise ValidationError("symbol must be 1 to 16 of A-Z, 0-9, '.', '-'", field="symbol")
    description = values.get("description")
    if description is not None and len(description) > 10_000:
        raise ValidationError("description is too long", field="description")
    if values["security_type"] not in set(SecurityType):
        raise ValidationError("security_type is not known", field="security_type")
    if values["regulation"] not in set(Regulation):
        raise ValidationError("regulation is not one we offer under", field="regulation")
    if not codes.is_currency(values["currency"]):
        raise ValidationError("currency is not an ISO 4217 code", field="currency")
    _check_amounts(values)
    _check_window(values.get("opens_at"), values.get("closes_at"))
    for country in values.get("allowed_countries") or ():
        if not COUNTRY_RE.match(country):
            raise ValidationError(
                "allowed_countries holds ISO 3166 alpha-2 codes", field="allowed_countries"
            )


def _check_amounts(values: Mapping[str, Any]) -> None:
    if values["unit_price"] <= 0:
        raise ValidationError("unit_price must be positive", field="unit_price")
    for name in ("min_ticket", "max_ticket", "soft_cap", "hard_cap"):
        if values.get(name) is not None and values[name] < 0:
            raise ValidationError(f"{name} must not be negative", field=name)
    # Each pair is checked where both ends are given: min <= max <= hard cap, soft <= hard.
    for low, high in (
        ("min_ticket", "max_ticket"),
        ("max_ticket", "hard_cap"),
        ("min_ticket", "hard_cap"),
        ("soft_cap", "hard_cap"),
    ):
        if (
            values.get(low) is not None
            and values.get(high) is not None
            and values[low] > values[high]
        ):
            raise ValidationError(f"{low} must not exceed {high}", field=low)


def _check_window(opens_at: datetime | None, closes_at: datetime | None) -> None:
    for name, moment in (("opens_at", opens_at), ("closes_at", closes_at)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationError(f"{name} must carry a time zone", field=name)
    if opens_at is not None and closes_at is not None and opens_at >= closes_at:
        raise ValidationError("opens_at must be before closes_at", field="opens_at")

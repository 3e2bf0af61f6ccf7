"""The ECB's daily euro foreign exchange reference rates (`eurofxref-daily.xml`).

The feed is public (no key): `Cube/Cube[@time]/Cube[@currency,@rate]`, 1 EUR = rate units
of the currency, published once per TARGET working day around 16:00 CET. Parsed with
defusedxml (no DTDs, no entities: a billion-laughs body is refused, not expanded) and then
validated strictly, so anything else is ProviderMalformed.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dpo.errors import ProviderMalformed
from dpo.providers.http import ProviderHttp

PROVIDER = "ecb"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_RATE = Decimal(10) ** 9


class EcbDaily(BaseModel):
    """One day's reference rates: 1 EUR = `rates[currency]` units of the currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date
    rates: dict[str, Decimal] = Field(min_length=1, max_length=200)

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, rate in rates.items():
            if not _CURRENCY.match(currency) or currency == "EUR":
                raise ValueError(f"bad currency code {currency[:8]!r}")
            if not rate.is_finite() or not Decimal(0) < rate < MAX_RATE:
                raise ValueError(f"rate of {currency} out of range")
        return rates


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_daily(body: bytes) -> EcbDaily:
    """The day's rates from an `eurofxref-daily.xml` body; ValueError if it is not one."""
    try:
        root: Element = fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (ParseError, DefusedXmlException) as error:
        raise ValueError(f"not well-formed XML ({type(error).__name__})") from None
    days = [
        element
        for element in root.iter()
        if _local(element.tag) == "Cube" and "time" in element.attrib
    ]
    if len(days) != 1:
        raise ValueError(f"expected one Cube[@time], found {len(days)}")
    day = days[0]
    rates: dict[str, Decimal] = {}
    for cube in day:
        if _local(cube.tag) != "Cube":
            continue
        currency, raw = cube.attrib.get("currency"), cube.attrib.get("rate")
        if currency is None or raw is None:
            raise ValueError("a Cube without currency or rate")
        if currency in rates:
            raise ValueError(f"currency {currency[:8]!r} twice")
        try:
            rates[currency] = Decimal(raw.strip())
        except InvalidOperation:
            raise ValueError(f"rate of {currency[:8]!r} is not a number") from None
    try:
        return EcbDaily.model_validate({"as_of": day.attrib["time"], "rates": rates})
    except ValidationError as error:
        raise ValueError(f"invalid rates: {error.errors()[0]['msg']}") from None


class EcbClient:
    """Reads the daily reference rates."""

    def __init__(self, http: ProviderHttp, *, path: str = "") -> None:
        self.http = http
        self.path = path

    async def daily(self) -> EcbDaily:
        """Today's (or the last working day's) rates."""
        return await self.http.call("GET", self.path, _parse)


def _parse(response: httpx.Response, body: bytes) -> EcbDaily:
    try:
        return parse_daily(body)
    except ValueError as error:
        raise ProviderMalformed(PROVIDER, str(error)) from None

"""Custom scalars that never lose precision and never accept garbage.

BigInt and Decimal travel as strings; DateTime is ISO 8601 in UTC ('Z'); a malformed value
raises `ScalarError`, which the error formatter reports with `extensions.code = VALIDATION`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from dpo.services import codes

BigInt = NewType("BigInt", int)
Address = NewType("Address", str)
Bytes32 = NewType("Bytes32", str)
ISIN = NewType("ISIN", str)
CurrencyCode = NewType("CurrencyCode", str)

UINT256_MAX = 2**256 - 1
_INTEGER = re.compile(r"^-?[0-9]{1,78}$")
# At most 20 integer and 18 fractional digits: what NUMERIC(38, 18) holds without rounding.
_DECIMAL = re.compile(r"^-?[0-9]{1,20}(\.[0-9]{1,18})?$")


class ScalarError(ValueError):
    """A scalar's input is malformed; the message says what is expected."""


def _expect_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ScalarError(f"{name} must be given as a string")
    return value


def parse_bigint(value: Any) -> int:
    """An integer from an int or a decimal string, within ±(2**256 - 1)."""
    if isinstance(value, bool):
        raise ScalarError("BigInt must be an integer or a string of digits")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.match(value):
        number = int(value)
    else:
        raise ScalarError("BigInt must be an integer or a string of digits")
    if abs(number) > UINT256_MAX:
        raise ScalarError("BigInt is out of range (at most 2**256 - 1)")
    return number


def serialize_bigint(value: int) -> str:
    """Digits as a string: JavaScript numbers lose precision past 2**53."""
    return str(int(value))


def parse_decimal(value: Any) -> decimal.Decimal:
    """A plain decimal string: no exponent, no NaN, at most 20.18 digits."""
    text = _expect_str(value, "Decimal")
    if not _DECIMAL.match(text):
        raise ScalarError('Decimal must be a plain decimal string such as "1250.50"')
    return decimal.Decimal(text)


def serialize_decimal(value: decimal.Decimal) -> str:
    """Fixed-point text without trailing zeros, never an exponent."""
    if not value.is_finite():
        raise ValueError("cannot serialise a non-finite Decimal")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def parse_datetime(value: Any) -> dt.datetime:
    """ISO 8601 with an explicit offset ('Z' or ±hh:mm), returned in UTC."""
    text = _expect_str(value, "DateTime")
    if "T" not in text:
        raise ScalarError("DateTime must be ISO 8601 with a time, e.g. 2026-01-31T12:00:00Z")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ScalarError("DateTime must be ISO 8601, e.g. 2026-01-31T12:00:00Z") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ScalarError("DateTime must carry a time zone ('Z' or an offset)")
    return parsed.astimezone(dt.UTC)


def serialize_datetime(value: dt.datetime) -> str:
    """UTC with a 'Z'; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_address(value: Any) -> str:
    """A 20-byte hex address, returned checksummed."""
    try:
        return codes.normalize_address(_expect_str(value, "Address"))
    except ScalarError:
        raise
    except ValueError as error:
        raise ScalarError(f"Address: {error}") from None


@functools.lru_cache(maxsize=4096)
def serialize_address(value: str) -> str:
    """The EIP-55 checksummed form.

    Remembered per stored spelling: the checksum is a keccak hash in Python (about 100 µs
    under a profiler, a tenth of an events page's CPU for its 20 contract addresses), and a
    page names the same few contracts and holders again and again. Only values we stored
    get here (inputs go through `parse_address`), and the cache is bounded.
    """
    return codes.normalize_address(value)


def parse_bytes32(value: Any) -> str:
    """0x and 64 hex digits, returned in lower case."""
    text = _expect_str(value, "Bytes32")
    if not codes.BYTES32_RE.match(text):
        raise ScalarError("Bytes32 must be 0x followed by 64 hex digits")
    return text.lower()


def serialize_bytes32(value: str) -> str:
    """Lower-case hex."""
    return value.lower()


def parse_isin(value: Any) -> str:
    """Twelve characters with a valid check digit, returned in upper case."""
    text = _expect_str(value, "ISIN").upper()
    if not codes.ISIN_RE.match(text):
        raise ScalarError("ISIN must be 2 letters, 9 letters or digits and a check digit")
    if not codes.is_valid_isin(text):
        raise ScalarError("ISIN check digit is wrong")
    return text


def parse_currency(value: Any) -> str:
    """An active ISO 4217 code, returned in upper case."""
    text = _expect_str(value, "CurrencyCode").upper()
    if not codes.is_currency(text):
        raise ScalarError("CurrencyCode must be an active ISO 4217 code such as EUR")
    return text


SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer of up to 78 digits, as a string.",
        serialize=serialize_bigint,
        parse_value=parse_bigint,
    ),
    decimal.Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number as a string, e.g. "1250.50".',
        serialize=serialize_decimal,
        parse_value=parse_decimal,
    ),
    dt.datetime: strawberry.scalar(
        name="DateTime",
        description="An ISO 8601 instant; always UTC ('Z') on output.",
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    ),
    Address: strawberry.scalar(
        name="Address",
        description="An Ethereum address, EIP-55 checksummed on output.",
        serialize=serialize_address,
        parse_value=parse_address,
    ),
    Bytes32: strawberry.scalar(
        name="Bytes32",
        description="32 bytes as 0x and 64 lower-case hex digits.",
        serialize=serialize_bytes32,
        parse_value=parse_bytes32,
    ),
    ISIN: strawberry.scalar(
        name="ISIN",
        description="An ISO 6166 securities identification number.",
        serialize=str,
        parse_value=parse_isin,
    ),
    CurrencyCode: strawberry.scalar(
        name="CurrencyCode",
        description="An active ISO 4217 currency code.",
        serialize=str,
        parse_value=parse_currency,
    ),
}

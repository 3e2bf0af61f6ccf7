"""Every custom scalar: accepted forms, normalised output, refused garbage."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from dpo.services import codes
from schema import scalars
from schema.scalars import ScalarError

LARGEST = "99999999999999999999.999999999999999999"
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (0, 0),
        (-5, -5),
        ("123", 123),
        ("-7", -7),
        (2**256 - 1, 2**256 - 1),
        (str(2**256 - 1), 2**256 - 1),
    ],
)
def test_bigint_accepts_ints_and_digit_strings(given: Any, expected: int) -> None:
    assert scalars.parse_bigint(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        1.0,
        True,
        "1e3",
        "1.5",
        "",
        " 1",
        "0x10",
        "NaN",
        str(2**256),
        2**256,
        None,
        "12a",
    ],
)
def test_bigint_refuses_garbage(given: Any) -> None:
    with pytest.raises(ScalarError):
        scalars.parse_bigint(given)


def test_bigint_serialises_as_string_without_precision_loss() -> None:
    assert scalars.serialize_bigint(2**200) == str(2**200)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1250.50", decimal.Decimal("1250.50")),
        ("0", decimal.Decimal(0)),
        ("-0.000000000000000001", decimal.Decimal("-1E-18")),
        (LARGEST, decimal.Decimal(LARGEST)),
    ],
)
def test_decimal_accepts_plain_strings(given: str, expected: decimal.Decimal) -> None:
    assert scalars.parse_decimal(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        1.5,
        10,
        "NaN",
        "Infinity",
        "1e5",
        "1E-3",
        "1.",
        ".5",
        "1,5",
        "",
        "abc",
        "1.0000000000000000001",
        "100000000000000000000000",
        None,
        " 1",
    ],
)
def test_decimal_refuses_floats_exponents_and_garbage(given: Any) -> None:
    with pytest.raises(ScalarError):
        scalars.parse_decimal(given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (decimal.Decimal("100.000000000000000000"), "100"),
        (decimal.Decimal("1250.500"), "1250.5"),
        (decimal.Decimal("1E+3"), "1000"),
        (decimal.Decimal("0E-18"), "0"),
        (decimal.Decimal("0.000000000000000001"), "0.000000000000000001"),
    ],
)
def test_decimal_serialises_fixed_point(given: decimal.Decimal, expected: str) -> None:
    assert scalars.serialize_decimal(given) == expected


def test_datetime_parses_offsets_to_utc() -> None:
    parsed = scalars.parse_datetime("2026-01-31T14:00:00+02:00")
    assert parsed == dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    assert parsed.utcoffset() == dt.timedelta(0)
    assert scalars.parse_datetime("2026-01-31T12:00:00Z") == parsed


@pytest.mark.parametrize(
    "given",
    [
        "2026-01-31T12:00:00",
        "2026-01-31",
        "31/01/2026 12:00Z",
        "",
        "tomorrow",
        1700000000,
        None,
        "2026-13-01T00:00:00Z",
    ],
)
def test_datetime_refuses_naive_and_garbage(given: Any) -> None:
    with pytest.raises(ScalarError):
        scalars.parse_datetime(given)


def test_datetime_serialises_in_utc_with_z() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert (
        scalars.serialize_datetime(dt.datetime(2026, 1, 1, 13, tzinfo=paris))
        == "2026-01-01T12:00:00Z"
    )


@pytest.mark.parametrize(
    "given", [CHECKSUMMED, CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper()]
)
def test_address_accepts_valid_forms_and_checksums(given: str) -> None:
    assert scalars.parse_address(given) == CHECKSUMMED
    assert scalars.serialize_address(given.lower()) == CHECKSUMMED


def test_a_stored_address_is_checksummed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The keccak checksum is the dearest part of a page of events; a repeated one is remembered.
    computed: list[str] = []

    def counting(value: str) -> str:
        computed.append(value)
        return CHECKSUMMED

    scalars.serialize_address.cache_clear()
    monkeypatch.setattr(codes, "normalize_address", counting)
    try:
        for _ in range(3):
            assert scalars.serialize_address(CHECKSUMMED.lower()) == CHECKSUMMED
    finally:
        scalars.serialize_address.cache_clear()
    assert computed == [CHECKSUMMED.lower()]


@pytest.mark.parametrize(
    "given",
    [
        CHECKSUMMED.replace("aA", "Aa", 1),  # mixed case, wrong checksum
        CHECKSUMMED[:-1],
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
        "0x" + "g" * 40,
        42,
        "",
    ],
)
def test_address_refuses_bad_checksum_and_garbage(given: Any) -> None:
    with pytest.raises(ScalarError):
        scalars.parse_address(given)


def test_bytes32_is_lowercased_and_checked() -> None:
    value = "0x" + "AB" * 32
    assert scalars.parse_bytes32(value) == "0x" + "ab" * 32
    for bad in ["0x" + "ab" * 31, "ab" * 32, "0x" + "zz" * 32, 5]:
        with pytest.raises(ScalarError):
            scalars.parse_bytes32(bad)


@pytest.mark.parametrize(
    "isin",
    [
        "US0378331005",
        "DE000BASF111",
        "US5949181045",
        "GB0002634946",
        "FR0000120271",
        "us0378331005",
    ],
)
def test_isin_accepts_real_isins(isin: str) -> None:
    assert scalars.parse_isin(isin) == isin.upper()


@pytest.mark.parametrize(
    "isin",
    [
        "US0378331006",
        "DE000BASF112",
        "US037833100",
        "1S0378331005",
        "US03783310055",
        "US-378331005",
        378331005,
    ],
)
def test_isin_refuses_wrong_check_digit_and_shape(isin: Any) -> None:
    with pytest.raises(ScalarError):
        scalars.parse_isin(isin)


def test_currency_codes() -> None:
    assert scalars.parse_currency("EUR") == "EUR"
    assert scalars.parse_currency("usd") == "USD"
    for bad in ["EURO", "XYZ", "DEM", "", 978]:
        with pytest.raises(ScalarError):
            scalars.parse_currency(bad)

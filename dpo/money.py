"""Amounts on chain: integers in the currency's minor unit (ISO 4217 exponents)."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 minor units where they are not 2; on-chain amounts are integers in minor units.
MINOR_UNITS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


def exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (2 unless listed)."""
    return MINOR_UNITS.get(currency.upper(), 2)


def minor_to_decimal(amount: int | str, currency: str) -> Decimal:
    """An integer amount in the currency's minor unit as a Decimal in major units."""
    return Decimal(int(amount)).scaleb(-exponent(currency))


def decimal_to_minor(amount: Decimal, currency: str) -> int:
    """A major-unit amount as an integer of minor units; ValueError if it does not divide."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} is not a whole number of minor units")
    return int(scaled)

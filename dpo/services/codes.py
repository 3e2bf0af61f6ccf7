"""Identifier rules shared by the API and the services: ISIN, ISO 4217, addresses."""

from __future__ import annotations

import re

from eth_utils.address import is_checksum_address, to_checksum_address

ISIN_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
BYTES32_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")

# ISO 4217 active codes (list one, 2024), funds and metals included; historic codes left out.
_CURRENCY_LIST = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA YER ZAR ZMW ZWG ZWL
"""
CURRENCIES = frozenset(_CURRENCY_LIST.split())


def isin_check_digit(body: str) -> int:
    """The Luhn check digit of an ISIN's first 11 characters, letters expanded (A=10 … Z=35)."""
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    # Double every other digit starting from the rightmost one (the check digit comes after).
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def is_valid_isin(value: str) -> bool:
    """Format and check digit of an ISIN (upper case)."""
    return bool(ISIN_RE.match(value)) and isin_check_digit(value[:11]) == int(value[11])


def is_currency(value: str) -> bool:
    """Whether the value is an active ISO 4217 code (upper case)."""
    return value in CURRENCIES


def normalize_address(value: str) -> str:
    """The checksummed form; mixed case must already carry a valid checksum."""
    if not ADDRESS_RE.match(value):
        raise ValueError("an address is 0x followed by 40 hex digits")
    hex_part = value[2:]
    if (
        hex_part != hex_part.lower()
        and hex_part != hex_part.upper()
        and not is_checksum_address(value)
    ):
        raise ValueError("the address's mixed-case checksum is wrong")
    return str(to_checksum_address(value))

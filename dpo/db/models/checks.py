"""Named CHECK constraints shared by the models."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint

ISIN_RE = "^[A-Z]{2}[A-Z0-9]{9}[0-9]$"
CURRENCY_RE = "^[A-Z]{3}$"
COUNTRY_RE = "^[A-Z]{2}$"


def one_of(column: str, values: type[StrEnum], name: str | None = None) -> CheckConstraint:
    """`column IN (...)` over an enum's values, named after the column."""
    listed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or column)


def matches(column: str, pattern: str, name: str | None = None) -> CheckConstraint:
    """`column ~ pattern`; NULL passes, as with every CHECK."""
    return CheckConstraint(f"{column} ~ '{pattern}'", name=name or f"{column}_format")


def hex_bytes_sql(column: str, size: int) -> str:
    """SQL true when `column` is 0x and exactly `size` bytes of hex digits.

    Same rule as `~ '^0x[0-9a-fA-F]{2*size}$'`, but PostgreSQL's regex engine is slow on a
    counted repeat (COPY of chain_events ran ~5x slower); a length test plus an uncounted
    pattern is not.
    """
    return f"length({column}) = {2 + 2 * size} AND {column} ~ '^0x[0-9a-fA-F]+$'"


def hex_bytes(column: str, size: int) -> CheckConstraint:
    """A 0x-prefixed hex value of exactly `size` bytes, named `<column>_format`."""
    return CheckConstraint(hex_bytes_sql(column, size), name=f"{column}_format")


def address(column: str) -> CheckConstraint:
    """A 0x-prefixed 20-byte hex address."""
    return hex_bytes(column, 20)


def hash32(column: str) -> CheckConstraint:
    """A 0x-prefixed 32-byte hex value (block/tx hash, bytes32)."""
    return hex_bytes(column, 32)


def non_negative(column: str) -> CheckConstraint:
    """`column >= 0`."""
    return CheckConstraint(f"{column} >= 0", name=f"{column}_non_negative")


def positive(column: str) -> CheckConstraint:
    """`column > 0`."""
    return CheckConstraint(f"{column} > 0", name=f"{column}_positive")


UINT256_MAX = 2**256 - 1


def uint256(column: str) -> CheckConstraint:
    """`0 <= column <= 2**256 - 1`: NUMERIC(78, 0) alone would admit larger values."""
    return CheckConstraint(f"{column} BETWEEN 0 AND {UINT256_MAX}", name=f"{column}_uint256")

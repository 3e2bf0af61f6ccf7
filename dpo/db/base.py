"""Declarative base, naming conventions and the column types every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Dialect, MetaData, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can refer to them up and down.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class IntNumeric(TypeDecorator[int]):
    """NUMERIC(p, 0) read and written as Python int, so uint256 never passes through Decimal."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 78) -> None:
        super().__init__(precision, 0, asdecimal=True)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Accept ints (and integral Decimals); refuse anything that would round."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise TypeError(f"expected an int, got {type(value).__name__}")
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise ValueError(f"expected an integral value, got {value}")
        return int(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        """Decimal from the driver to int."""
        return None if value is None else int(value)


# uint256 needs 78 decimal digits; money keeps 18 fractional digits for token-priced assets.
UINT256 = IntNumeric(78)
MONEY = Numeric(38, 18, asdecimal=True)
RATE = Numeric(24, 12, asdecimal=True)

Uint256 = Annotated[int, mapped_column(UINT256)]
Money = Annotated[Decimal, mapped_column(MONEY)]
Address = Annotated[str, mapped_column(String(42))]
Hash32 = Annotated[str, mapped_column(String(66))]
UtcTime = Annotated[datetime, mapped_column(DateTime(timezone=True))]
BigId = Annotated[int, mapped_column(BigInteger, primary_key=True, autoincrement=True)]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base class of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {
        datetime: DateTime(timezone=True),
        Decimal: MONEY,
    }


class Timestamped:
    """Creation and update times kept by the database."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )

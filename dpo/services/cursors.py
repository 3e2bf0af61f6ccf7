"""Orderings and their opaque cursors: what a keyset page is sorted by and where it starts.

A cursor is the base64 of the last row's sort-key values plus the ordering's name, so a page
never shifts when rows are inserted before it, and a cursor from another ordering is refused.
It comes back from the client, so every value is checked against its column's type and range
before a statement uses it. The keyset SQL that reads pages is dpo.services.pagination.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement

from dpo import safe_json
from dpo.errors import ValidationError
from dpo.inputs import BIGINT_MAX, parse_ascii_int, text_problem

# Our cursors are well under this; a longer one is refused before it is decoded.
MAX_CURSOR_LENGTH = 1024


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering; the last key of an ordering must be unique (the id)."""

    expression: ColumnElement[Any]
    descending: bool = False
    nullable: bool = False


@dataclass(frozen=True)
class Ordering:
    """A named, total order: the name goes into cursors."""

    name: str
    keys: tuple[SortKey, ...]


def _to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"d": str(value)}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str):
        return dt.datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and set(value) == {"d"} and isinstance(value["d"], str):
        return decimal.Decimal(value["d"])
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise ValueError("bad cursor value")


def _python_type(expression: ColumnElement[Any]) -> type:
    try:
        kind: type = expression.type.python_type
    except NotImplementedError:
        return object
    return kind


def _checked(value: Any, expected: type, *, nullable: bool) -> Any:
    """`value` if it has the type its key's column holds and fits that column, else ValueError.

    A cursor comes back from the client: a value of another type, or one PostgreSQL cannot
    hold (an integer past BIGINT, a NUL in text), would otherwise fail in the driver.
    """
    if value is None:
        if nullable:
            return value
        raise ValueError("null in a key that holds none")
    if expected is object:  # a column of no known type: any decoded value of fitting size
        ok = True
    elif expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is dt.datetime:
        ok = isinstance(value, dt.datetime) and value.tzinfo is not None
    else:
        ok = isinstance(value, expected)
    if isinstance(value, int) and not isinstance(value, bool):
        ok = ok and -BIGINT_MAX - 1 <= value <= BIGINT_MAX
    elif isinstance(value, str):
        ok = ok and text_problem(value) is None
    elif isinstance(value, decimal.Decimal):
        ok = ok and value.is_finite()
    if not ok:
        raise ValueError("cursor value of the wrong type")
    return value


# The values orjson writes exactly as json.dumps does, once the text is ASCII: integers of up
# to 64 bits (orjson refuses larger ones), strings, booleans and null, and what `_to_json`
# turns datetimes and decimals into. Anything else (a float, whose digits may differ) takes
# json.dumps.
_NATIVE = frozenset({int, str, bool, type(None), dt.datetime, decimal.Decimal})


def encode_cursor(ordering: str, values: Sequence[Any]) -> str:
    """The opaque cursor of a row's sort-key values.

    The JSON is json.dumps's compact text; orjson writes it when it can be the same (every
    value of a kind above and the text ASCII without DEL: json.dumps escapes those, orjson
    does not), a page of 20 cursors then costing about 200 Python calls fewer.
    """
    if _NATIVE.issuperset(map(type, values)):
        try:
            raw = orjson.dumps(
                {"o": ordering, "k": values},
                default=_to_json,
                option=orjson.OPT_PASSTHROUGH_DATETIME,
            )
        except orjson.JSONEncodeError:  # an integer past 64 bits, a lone surrogate
            raw = b""
        if raw and raw.isascii() and b"\x7f" not in raw:
            return base64.urlsafe_b64encode(raw).decode()
    payload = json.dumps({"o": ordering, "k": [_to_json(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode()


def decode_cursor(ordering: Ordering, cursor: str, *, field: str = "after") -> list[Any]:
    """The sort-key values a cursor holds; ValidationError if it is not one of ours.

    Each value must have its key's type (checked against the column), so a forged cursor is
    refused here rather than by the database.
    """
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("cursor too long")
        payload = safe_json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if payload["o"] != ordering.name or len(payload["k"]) != _width(ordering):
            raise ValueError("cursor of another ordering")
        return [
            _checked(_from_json(v), expected, nullable=nullable)
            for v, (expected, nullable) in zip(payload["k"], _slots(ordering), strict=True)
        ]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise ValidationError(
            f"{field} is not a valid cursor for this ordering", field=field
        ) from None


def decode_sequence(cursor: str, *, field: str = "after") -> int:
    """A feed cursor (a `chain_events` sequence number): ASCII digits, at most BIGINT."""
    try:
        return parse_ascii_int(cursor)
    except ValueError:
        raise ValidationError(
            f"{field} must be a feed sequence (digits, below 2**63)", field=field
        ) from None


def _slots(ordering: Ordering) -> list[tuple[type, bool]]:
    # (type, may be null) per cursor value, as _expanded lays the keys out.
    slots: list[tuple[type, bool]] = []
    for key in ordering.keys:
        if key.nullable:
            slots.append((bool, False))
        slots.append((_python_type(key.expression), key.nullable))
    return slots


def _width(ordering: Ordering) -> int:
    return sum(2 if key.nullable else 1 for key in ordering.keys)

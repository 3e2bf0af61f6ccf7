"""Keyset pagination over SQLAlchemy selects, with opaque cursors stable under inserts.

A cursor is the base64 of the last row's sort-key values plus the ordering's name, so a page
never shifts when rows are inserted before it, and a cursor from another ordering is refused.
`first`/`after` page forwards, `last`/`before` backwards over the same cursors; which rows a
window holds and its pageInfo are decided in dpo.services.page_window (pure).
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

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dpo import safe_json
from dpo.errors import ValidationError
from dpo.inputs import BIGINT_MAX, parse_ascii_int, text_problem
from dpo.services.page_window import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageSizeExceededError,
    Window,
    page_size,
    settle,
    window,
)

# Our cursors are well under this; a longer one is refused before it is decoded.
MAX_CURSOR_LENGTH = 1024
__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "PageSizeExceededError", "page_size"]


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


@dataclass(frozen=True)
class Page:
    """Rows of one page with one cursor per row."""

    rows: list[Any]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


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


def encode_cursor(ordering: str, values: Sequence[Any]) -> str:
    """The opaque cursor of a row's sort-key values."""
    payload = json.dumps({"o": ordering, "k": [_to_json(v) for v in values]},
                         separators=(",", ":"))
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
        return [_checked(_from_json(v), expected, nullable=nullable)
                for v, (expected, nullable) in zip(payload["k"], _slots(ordering), strict=True)]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise ValidationError(f"{field} is not a valid cursor for this ordering",
                              field=field) from None


def decode_sequence(cursor: str, *, field: str = "after") -> int:
    """A feed cursor (a `chain_events` sequence number): ASCII digits, at most BIGINT."""
    try:
        return parse_ascii_int(cursor)
    except ValueError:
        raise ValidationError(f"{field} must be a feed sequence (digits, below 2**63)",
                              field=field) from None


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


def _expanded(ordering: Ordering) -> list[tuple[ColumnElement[Any], bool]]:
    # A nullable key sorts on "is null" first, so NULLs come last ascending, first descending.
    keys: list[tuple[ColumnElement[Any], bool]] = []
    for key in ordering.keys:
        if key.nullable:
            keys.append((key.expression.is_(None), key.descending))
        keys.append((key.expression, key.descending))
    return keys


def _after(keys: list[tuple[ColumnElement[Any], bool]], values: list[Any]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for i, (expression, descending) in enumerate(keys):
        equal = [keys[j][0].is_not_distinct_from(values[j]) for j in range(i)]
        if values[i] is None:
            # Nothing sorts strictly past NULL within its "is null" group.
            continue
        # A bound literal: SQLAlchemy refuses < and > against bare True/False.
        value = literal(values[i])
        beyond = expression < value if descending else expression > value
        clauses.append(and_(*equal, beyond))
    return or_(false(), *clauses)


def _bounded(statement: Select[Any], keys: list[tuple[ColumnElement[Any], bool]],
             ordering: Ordering, win: Window) -> Select[Any]:
    """`statement` limited to the rows strictly between the window's cursors."""
    if win.after is not None:
        statement = statement.where(_after(keys, decode_cursor(ordering, win.after)))
    if win.before is not None:
        values = decode_cursor(ordering, win.before, field="before")
        statement = statement.where(_after(_flipped(keys), values))
    return statement


def _flipped(keys: list[tuple[ColumnElement[Any], bool]]) -> list[tuple[ColumnElement[Any], bool]]:
    return [(expression, not descending) for expression, descending in keys]


def _reading_order(keys: list[tuple[ColumnElement[Any], bool]],
                   win: Window) -> list[ColumnElement[Any]]:
    # A backward window reads from its end: the order flipped, turned back by `settle`.
    return [e.desc() if d != win.backward else e.asc() for e, d in keys]


def _beyond_clause(keys: list[tuple[ColumnElement[Any], bool]], ordering: Ordering,
                   win: Window) -> ColumnElement[bool] | None:
    """Rows on the far side of the window's reverse-side cursor, or None if it has none.

    Forwards: rows at or before `after` (not strictly after it); backwards: rows at or after
    `before`. The cursors were decoded once already; a bad one never gets here.
    """
    cursor = win.reverse_side
    if cursor is None:
        return None
    field = "before" if win.backward else "after"
    values = decode_cursor(ordering, cursor, field=field)
    strictly = _after(_flipped(keys) if win.backward else keys, values)
    return not_(func.coalesce(strictly, false()))


async def paginate(session: AsyncSession, statement: Select[Any], *, ordering: Ordering,
                   first: int | None, after: str | None, last: int | None = None,
                   before: str | None = None) -> Page:
    """One page of `statement` (selecting one entity) in `ordering`, between cursors."""
    win = window(first=first, after=after, last=last, before=before)
    keys = _expanded(ordering)
    bounded = _bounded(statement, keys, ordering, win)
    key_columns = [e.label(f"_k{i}") for i, (e, _) in enumerate(keys)]
    result = await session.execute(bounded.order_by(*_reading_order(keys, win))
                                   .add_columns(*key_columns).limit(win.size + 1))
    beyond = False
    clause = _beyond_clause(keys, ordering, win)
    if clause is not None:
        beyond = bool(await session.scalar(select(exists(statement.where(clause)))))
    sliced = settle(win, result.all(), beyond=beyond)
    return Page(rows=[row[0] for row in sliced.items],
                cursors=[encode_cursor(ordering.name, list(row[1:])) for row in sliced.items],
                has_next_page=sliced.has_next_page, has_previous_page=sliced.has_previous_page)


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    """How many rows `statement` selects in all."""
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return int(total or 0)


async def paginate_groups(session: AsyncSession, statement: Select[Any], *,
                          group: ColumnElement[int], group_ids: Sequence[int],
                          ordering: Ordering, first: int | None,
                          after: str | None, last: int | None = None,
                          before: str | None = None) -> dict[int, Page]:
    """The page of `statement` within each group, in one statement whatever the groups.

    Rows are numbered per group (ROW_NUMBER() OVER (PARTITION BY group ...)) and cut at the
    page size plus one, so a page of parents with their child pages costs one round trip
    (and one more, for all the groups, when a cursor asks what lies beyond it).
    """
    win = window(first=first, after=after, last=last, before=before)
    keys = _expanded(ordering)
    statement = statement.where(group.in_(group_ids))
    bounded = _bounded(statement, keys, ordering, win)
    number = func.row_number().over(partition_by=group, order_by=_reading_order(keys, win))
    inner = bounded.add_columns(group.label("_g"), number.label("_n"),
                                *(e.label(f"_k{i}") for i, (e, _) in enumerate(keys)))
    numbered = inner.subquery()
    entity = aliased(statement.column_descriptions[0]["entity"], numbered)
    outer = (select(entity, numbered.c._g,
                    *(numbered.c[f"_k{i}"] for i in range(len(keys))))
             .where(numbered.c._n <= win.size + 1).order_by(numbered.c._g, numbered.c._n))
    grouped: dict[int, list[Any]] = {group_id: [] for group_id in group_ids}
    for row in (await session.execute(outer)).all():
        grouped[row[1]].append(row)
    beyond: set[int] = set()
    clause = _beyond_clause(keys, ordering, win)
    if clause is not None:
        found = await session.scalars(statement.where(clause).with_only_columns(group)
                                      .distinct())
        beyond = set(found.all())
    pages: dict[int, Page] = {}
    for group_id, rows in grouped.items():
        sliced = settle(win, rows, beyond=group_id in beyond)
        pages[group_id] = Page(
            rows=[row[0] for row in sliced.items],
            cursors=[encode_cursor(ordering.name, list(row[2:])) for row in sliced.items],
            has_next_page=sliced.has_next_page, has_previous_page=sliced.has_previous_page)
    return pages

"""Keyset pagination over SQLAlchemy selects, with opaque cursors stable under inserts.

`first`/`after` page forwards, `last`/`before` backwards over the same cursors (their
encoding and checks: dpo.services.cursors); which rows a window holds and its pageInfo are
decided in dpo.services.page_window (pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dpo.db import raw_reads
from dpo.services.cursors import (
    Ordering,
    SortKey,
    decode_cursor,
    decode_sequence,
    encode_cursor,
)
from dpo.services.page_window import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageSizeExceededError,
    Window,
    page_size,
    settle,
    window,
)

# What callers of pagination use, wherever it is defined.
__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Ordering",
    "PageSizeExceededError",
    "SortKey",
    "decode_cursor",
    "decode_sequence",
    "encode_cursor",
    "page_size",
]


@dataclass(frozen=True)
class Page:
    """Rows of one page with one cursor per row."""

    rows: list[Any]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


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


def _bounded(
    statement: Select[Any],
    keys: list[tuple[ColumnElement[Any], bool]],
    ordering: Ordering,
    win: Window,
) -> Select[Any]:
    """`statement` limited to the rows strictly between the window's cursors."""
    if win.after is not None:
        statement = statement.where(_after(keys, decode_cursor(ordering, win.after)))
    if win.before is not None:
        values = decode_cursor(ordering, win.before, field="before")
        statement = statement.where(_after(_flipped(keys), values))
    return statement


def _flipped(keys: list[tuple[ColumnElement[Any], bool]]) -> list[tuple[ColumnElement[Any], bool]]:
    return [(expression, not descending) for expression, descending in keys]


def _reading_order(
    keys: list[tuple[ColumnElement[Any], bool]], win: Window
) -> list[ColumnElement[Any]]:
    # A backward window reads from its end: the order flipped, turned back by `settle`.
    return [e.desc() if d != win.backward else e.asc() for e, d in keys]


def _beyond_clause(
    keys: list[tuple[ColumnElement[Any], bool]], ordering: Ordering, win: Window
) -> ColumnElement[bool] | None:
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


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    ordering: Ordering,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
    as_rows: bool = False,
) -> Page:
    """One page of `statement` (selecting one entity) in `ordering`, between cursors.

    `as_rows`: the statement selects a table's columns instead, and the page's rows are the
    result's rows (the ordering's key columns appended as `_k0`, `_k1`...): no ORM objects
    for a page that is only read (docs/ARCHITECTURE.md, the read path).
    """
    win = window(first=first, after=after, last=last, before=before)
    keys = _expanded(ordering)
    bounded = _bounded(statement, keys, ordering, win)
    key_columns = [e.label(f"_k{i}") for i, (e, _) in enumerate(keys)]
    query = bounded.order_by(*_reading_order(keys, win)).add_columns(*key_columns)
    query = query.limit(win.size + 1)
    # Rows of columns run on the driver connection (dpo.db.raw_reads); entities need the ORM.
    rows = (
        await raw_reads.fetch(session, query) if as_rows else (await session.execute(query)).all()
    )
    beyond = False
    clause = _beyond_clause(keys, ordering, win)
    if clause is not None:
        asked = select(exists(statement.where(clause)))
        beyond = bool(
            await raw_reads.scalar(session, asked) if as_rows else await session.scalar(asked)
        )
    sliced = settle(win, rows, beyond=beyond)
    width = len(key_columns)
    return Page(
        rows=list(sliced.items) if as_rows else [row[0] for row in sliced.items],
        cursors=[encode_cursor(ordering.name, list(row[-width:])) for row in sliced.items],
        has_next_page=sliced.has_next_page,
        has_previous_page=sliced.has_previous_page,
    )


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    """How many rows `statement` selects in all."""
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return int(total or 0)


async def paginate_groups(
    session: AsyncSession,
    statement: Select[Any],
    *,
    group: ColumnElement[int],
    group_ids: Sequence[int],
    ordering: Ordering,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> dict[int, Page]:
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
    inner = bounded.add_columns(
        group.label("_g"), number.label("_n"), *(e.label(f"_k{i}") for i, (e, _) in enumerate(keys))
    )
    numbered = inner.subquery()
    entity = aliased(statement.column_descriptions[0]["entity"], numbered)
    outer = (
        select(entity, numbered.c._g, *(numbered.c[f"_k{i}"] for i in range(len(keys))))
        .where(numbered.c._n <= win.size + 1)
        .order_by(numbered.c._g, numbered.c._n)
    )
    grouped: dict[int, list[Any]] = {group_id: [] for group_id in group_ids}
    for row in (await session.execute(outer)).all():
        grouped[row[1]].append(row)
    beyond: set[int] = set()
    clause = _beyond_clause(keys, ordering, win)
    if clause is not None:
        found = await session.scalars(statement.where(clause).with_only_columns(group).distinct())
        beyond = set(found.all())
    pages: dict[int, Page] = {}
    for group_id, rows in grouped.items():
        sliced = settle(win, rows, beyond=group_id in beyond)
        pages[group_id] = Page(
            rows=[row[0] for row in sliced.items],
            cursors=[encode_cursor(ordering.name, list(row[2:])) for row in sliced.items],
            has_next_page=sliced.has_next_page,
            has_previous_page=sliced.has_previous_page,
        )
    return pages

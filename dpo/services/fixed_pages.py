"""Keyset pages whose statements are built once per shape, as dpo.services.pagination reads them.

`paginate` builds a page's statement, its cursor conditions and the check beyond the cursor on
every request, and dpo.db.raw_reads then walks the statement for its cache key: about 900
Python calls for a page of offerings before a row is read. Here a shape (the caller's own key
for its filters, the ordering, which cursor values are null and of what type, the direction)
is built once with every value a named parameter (dpo.db.raw_reads.fetch_fixed); a request
decodes its cursors and binds values by name. Each statement renders the SQL `paginate`
renders for the same page (the parity tests compare the texts), so rows, cursors and
pageInfo are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)

from dpo.db import raw_reads
from dpo.services.cursors import Ordering, decode_cursor, encode_cursor
from dpo.services.page_window import settle, window
from dpo.services.pagination import Page

Keys = list[tuple[ColumnElement[Any], bool]]
# Per key of a decoded cursor, the type of its value or the value (`_bind`); None when the
# window has no such cursor.
Kinds = tuple[Any, ...] | None


def _expanded(ordering: Ordering) -> Keys:
    # As pagination's: a nullable key sorts on "is null" first.
    keys: Keys = []
    for key in ordering.keys:
        if key.nullable:
            keys.append((key.expression.is_(None), key.descending))
        keys.append((key.expression, key.descending))
    return keys


def _constant(value: Any) -> bool:
    # In IS NOT DISTINCT FROM, SQLAlchemy writes None, True and False into the SQL text.
    return value is None or isinstance(value, bool)


def _bind(values: dict[str, Any], prefix: str, decoded: list[Any] | None) -> Kinds:
    """Name the values of a decoded cursor as `_past` names them; the cursor's kinds: per
    value its type, or the value itself where the SQL text holds it (a null, a boolean)."""
    if decoded is None:
        return None
    for i, value in enumerate(decoded):
        if value is None:
            continue
        values[f"{prefix}{i}"] = value
        for j in range(i):
            values[f"{prefix}{i}_{j}"] = decoded[j]
    return tuple(value if _constant(value) else type(value) for value in decoded)


def _past(keys: Keys, prefix: str, sample: list[Any]) -> ColumnElement[bool]:
    """pagination._after with named parameters: rows strictly past a cursor in `keys`.

    `sample` is a decoded cursor of the shape (same kinds): which values are null or written
    into the SQL, and the type each parameter gets (as pagination's `literal` and comparisons
    give it).
    """
    clauses = []
    for i, (expression, descending) in enumerate(keys):
        if sample[i] is None:
            continue
        equal = [
            keys[j][0].is_not_distinct_from(
                sample[j]
                if _constant(sample[j])
                else bindparam(f"{prefix}{i}_{j}", type_=keys[j][0].type)
            )
            for j in range(i)
        ]
        value = bindparam(f"{prefix}{i}", type_=literal(sample[i]).type)
        beyond = expression < value if descending else expression > value
        clauses.append(and_(*equal, beyond))
    return or_(false(), *clauses)


def _flipped(keys: Keys) -> Keys:
    return [(expression, not descending) for expression, descending in keys]


async def fixed_page(
    reads: raw_reads.Reads,
    shape: Hashable,
    base: Callable[[], Select[Any]],
    values: dict[str, Any],
    *,
    ordering: Ordering,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """`paginate(..., as_rows=True)` of `base()`, built once per `shape` and cursor kinds.

    `base()` selects a table's columns with every value a named parameter, bound from
    `values` (which gets the cursors' values and the limit added); `shape` must tell apart
    whatever makes `base()` differ. The page's rows carry the key columns as `_k0`, `_k1`...
    """
    win = window(first=first, after=after, last=last, before=before)
    decoded_after = decode_cursor(ordering, win.after) if win.after is not None else None
    decoded_before = (
        decode_cursor(ordering, win.before, field="before") if win.before is not None else None
    )
    kinds = (_bind(values, "_a", decoded_after), _bind(values, "_b", decoded_before))
    values["_size"] = win.size + 1

    def page_statement() -> Select[Any]:
        keys = _expanded(ordering)
        statement = base()
        if decoded_after is not None:
            statement = statement.where(_past(keys, "_a", decoded_after))
        if decoded_before is not None:
            statement = statement.where(_past(_flipped(keys), "_b", decoded_before))
        # A backward window reads from its end: the order flipped, turned back by `settle`.
        order = [e.desc() if d != win.backward else e.asc() for e, d in keys]
        columns = [e.label(f"_k{i}") for i, (e, _) in enumerate(keys)]
        statement = statement.order_by(*order).add_columns(*columns)
        return statement.limit(bindparam("_size", type_=Integer))

    key = ("fixed page", shape, ordering.name, kinds, win.backward)
    rows = await raw_reads.fetch_fixed(reads, key, page_statement, values)
    # The cursor on the side the page does not grow from (Window.reverse_side), decoded.
    reverse = decoded_before if win.backward else decoded_after
    beyond = False
    if reverse is not None:
        side = reverse

        def beyond_statement() -> Select[Any]:
            # The rows at or before `after` (forwards) or at or after `before` (backwards).
            keys = _expanded(ordering)
            if win.backward:
                strictly = _past(_flipped(keys), "_b", side)
            else:
                strictly = _past(keys, "_a", side)
            return select(exists(base().where(not_(func.coalesce(strictly, false())))))

        found = await raw_reads.fetch_fixed(
            reads,
            ("fixed beyond", shape, ordering.name, kinds[1 if win.backward else 0], win.backward),
            beyond_statement,
            values,
        )
        beyond = bool(found[0][0])
    sliced = settle(win, rows, beyond=beyond)
    width = sum(2 if key.nullable else 1 for key in ordering.keys)
    return Page(
        rows=list(sliced.items),
        cursors=[encode_cursor(ordering.name, list(row[-width:])) for row in sliced.items],
        has_next_page=sliced.has_next_page,
        has_previous_page=sliced.has_previous_page,
    )

"""Fixed read statements run on the pooled connection's asyncpg connection, not through
SQLAlchemy's execution path.

Why: a 20-row select costs about 450 µs of CPU through an `AsyncSession`, 400 through an
`AsyncConnection` and 200 on the asyncpg connection itself (docs/ARCHITECTURE.md, the read
path). The difference is the execution context, the greenlet bridge to the driver, the
cursor adapter and the `Result`/`Row` machinery, none of which a read-only page needs.

What stays SQLAlchemy's: the statement is still built with SQLAlchemy Core and compiled by
the engine's own dialect (same SQL, same bind casts); the connection is checked out of the
same pool, through the caller's session (a request that also writes or reads objects: one
connection, in or out of its transaction) or without one (`PooledReads`, a request that only
reads rows: dpo.db.pooled_reads); the asyncpg connection carries the dialect's JSON/JSONB
codecs (set when the pool connects), so JSONB arrives decoded once; every column still goes
through its type's result processor, so the values are the ones a `Row` would hold. Errors are
translated into SQLAlchemy's `DBAPIError` family exactly as the engine does it, and a lost
or interrupted connection is invalidated in the pool, so callers see one error vocabulary.

Each statement shape (SQLAlchemy's cache key: the statement's structure, not its values) is
compiled once; its SQL text and the order of its parameters are kept, and the values of
each execution are extracted from the cache key, so the SQL text is fixed per shape and
asyncpg's per-connection statement cache (an LRU) holds one prepared statement per shape.
An IN list (`column.in_(values)`) renders one placeholder per value at each execution, a
new text per length; such statements are refused here, and `among` says the same as one
array parameter (`column = ANY($1)`), whose text never varies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, exc, literal
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from dpo.db.pooled_reads import PooledReads

# Shapes are few (one per combination of filters and cursors of a handful of statements);
# the bound only keeps a bug that builds statements from values from growing without end.
MAX_SHAPES = 512

Processor = Callable[[Any], Any]
Reads = AsyncSession | PooledReads
"""Where raw reads run: a session's connection, or a pooled one held without a session."""
Connections = Callable[[], AbstractAsyncContextManager[Reads]]
"""How a request that only reads rows reaches a connection: `pooled_reads` on the engine."""


class RawRow(tuple[Any, ...]):
    """A result row: its columns by position and by name, like SQLAlchemy's `Row`.

    Each statement shape gets a subclass with one property per column name (`row.id`);
    `_mapping` gives the columns by name as a dict.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


def _row_class(keys: Sequence[str]) -> type[RawRow]:
    attributes: dict[str, Any] = {"__slots__": (), "_fields": tuple(keys)}
    for index, key in enumerate(keys):
        # A column named like a tuple method stays reachable through `_mapping` (as on a Row).
        if key.isidentifier() and not hasattr(RawRow, key):
            attributes[key] = property(itemgetter(index))
    return type("Row", (RawRow,), attributes)


@dataclass(slots=True)
class _Shape:
    """One compiled statement shape."""

    compiled: SQLCompiler
    # The fixed SQL text and the order of its parameters.
    sql: str
    names: tuple[str, ...]
    binders: dict[str, Processor]
    row: type[RawRow]
    types: tuple[TypeEngine[Any], ...]
    # Per column, its type's result processor (None: the value as asyncpg gives it); known
    # after the first execution, from the prepared statement's column types.
    decoders: list[tuple[int, Processor]] | None = None


_shapes: dict[Any, _Shape] = {}


def _compile(statement: Select[Any], dialect: Dialect, key: Any = None) -> _Shape:
    compiled = statement.compile(dialect=dialect, cache_key=key)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise exc.InvalidRequestError("a raw read's SQL must not vary: use among(), not in_()")
    return _Shape(
        compiled=compiled,
        sql=compiled.string,
        names=tuple(compiled.positiontup or ()),
        binders=dict(compiled._bind_processors),  # type: ignore[arg-type]
        row=_row_class(list(statement.selected_columns.keys())),
        types=tuple(column.type for column in statement.selected_columns),
    )


def _remember(key: Any, shape: _Shape) -> None:
    if len(_shapes) >= MAX_SHAPES:
        del _shapes[next(iter(_shapes))]
    _shapes[key] = shape


def _shape(statement: Select[Any], dialect: Dialect) -> tuple[_Shape, Any]:
    """The statement's compiled shape and its cache key (whose parameters hold the values)."""
    key = statement._generate_cache_key()
    if key is None:
        raise exc.InvalidRequestError("a raw read needs a cacheable statement")
    found = _shapes.get(key.key)
    if found is None:
        found = _compile(statement, dialect, key)
        _remember(key.key, found)
    return found, key


def _arguments(shape: _Shape, key: Any) -> tuple[str, list[Any]]:
    """The SQL text and positional values of one execution of `shape`."""
    params: Mapping[str, Any] = shape.compiled.construct_params(
        extracted_parameters=key[1], escape_names=False
    )
    return shape.sql, _bind(shape, params)


def _bind(shape: _Shape, params: Mapping[str, Any]) -> list[Any]:
    """The positional values of `shape` from `params` by name, through each one's binder."""
    binders = shape.binders
    values = []
    for name in shape.names:
        value = params[name]
        binder = binders.get(name)
        values.append(value if binder is None else binder(value))
    return values


def among(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column` equal to one of `values`, as one array parameter (not an IN list)."""
    return column == any_(literal(list(values), ARRAY(column.type)))


def _decoders(shape: _Shape, oids: Sequence[int], dialect: Dialect) -> list[tuple[int, Processor]]:
    found: list[tuple[int, Processor]] = []
    for index, (type_, oid) in enumerate(zip(shape.types, oids, strict=True)):
        processor = type_._cached_result_processor(dialect, oid)
        if processor is not None:
            found.append((index, processor))
    return found


async def fetch(reads: Reads, statement: Select[Any]) -> list[Any]:
    """The rows of a read statement, run on the asyncpg connection of `reads`' connection."""
    on = await reads.connection() if isinstance(reads, AsyncSession) else reads
    return await fetch_on(on, statement)


async def fetch_on(connection: AsyncConnection | PooledReads, statement: Select[Any]) -> list[Any]:
    """`fetch` on a connection already checked out."""
    shape, key = _shape(statement, connection.engine.dialect)
    sql, values = _arguments(shape, key)
    return await _run(connection, shape, sql, values)


async def fetch_fixed(
    reads: Reads,
    shape_key: Hashable,
    build: Callable[[], Select[Any]],
    values: Mapping[str, Any],
) -> list[Any]:
    """The rows of the statement `build()` makes for `shape_key`, with `values` bound.

    For the hottest reads: `build` runs once per shape (a statement whose every parameter is
    a named `bindparam`), so a request neither builds a statement nor walks it for its cache
    key; it only binds `values` by name. A parameter `values` does not name (a value built
    into the statement, which later calls would silently reuse) is refused.
    """
    on = await reads.connection() if isinstance(reads, AsyncSession) else reads
    key = ("fixed", shape_key)
    shape = _shapes.get(key)
    if shape is None:
        shape = _compile(build(), on.engine.dialect)
        missing = [name for name in shape.names if name not in values]
        if missing:
            raise exc.InvalidRequestError(f"a fixed read binds every value by name: {missing}")
        _remember(key, shape)
    return await _run(on, shape, shape.sql, _bind(shape, values))


async def _run(
    on: AsyncConnection | PooledReads, shape: _Shape, sql: str, values: list[Any]
) -> list[Any]:
    if isinstance(on, PooledReads):
        fairy = await on.connection()
        # No engine Connection: the engine's listeners, told of none (None, as the cursor).
        conn, dispatch = None, on.engine.sync_engine.dispatch
    else:
        fairy = await on.get_raw_connection()
        conn = on.sync_connection
        dispatch = conn.dispatch if conn is not None else on.sync_engine.dispatch
    driver = fairy.driver_connection
    if dispatch.before_cursor_execute:
        # Listeners (statement counts in tests and benches) see the statement as before.
        for listener in dispatch.before_cursor_execute:
            listener(conn, None, sql, tuple(values), None, False)
    try:
        if shape.decoders is None:
            prepared = await driver.prepare(sql)  # type: ignore[union-attr]
            shape.decoders = _decoders(
                shape, [a.type.oid for a in prepared.get_attributes()], on.engine.dialect
            )
        records = await driver.fetch(sql, *values)  # type: ignore[union-attr]
    except (Exception, asyncio.CancelledError) as error:
        await _fail(on, fairy, sql, values, error)
        raise
    make = shape.row
    decoders = shape.decoders
    if not decoders:
        return [make(record) for record in records]
    rows = []
    for record in records:
        row = list(record)
        for index, decode in decoders:
            row[index] = decode(row[index])
        rows.append(make(row))
    return rows


async def scalar(reads: Reads, statement: Select[Any]) -> Any:
    """The first column of the first row, or None (as `AsyncSession.scalar`)."""
    rows = await fetch(reads, statement)
    return rows[0][0] if rows else None


async def _fail(
    on: AsyncConnection | PooledReads,
    fairy: PoolProxiedConnection,
    sql: str,
    values: list[Any],
    error: BaseException,
) -> None:
    """Raise the driver's error as the engine would, after invalidating a lost connection.

    The dialect translates asyncpg's exceptions into its DB-API ones; SQLAlchemy then wraps
    them in `DBAPIError` subclasses (OperationalError, ProgrammingError, ...) and, when the
    connection is closed or the statement was interrupted by a cancellation, invalidates it
    so the pool never hands it out again.
    """
    engine = on.engine.sync_engine
    dialect = engine.dialect
    adapted: Any = fairy.dbapi_connection
    if not isinstance(error, Exception) or isinstance(error, TimeoutError):
        # Cancelled or timed out mid-statement: the connection's state is unknown; SQLAlchemy
        # (util.is_exit_exception) closes it and raises the exception as it is.
        await on.invalidate(error)
        raise error
    dbapi_error: Exception = error
    try:
        adapted._handle_exception(error)
    except Exception as translated:  # the dialect always raises: its translation
        dbapi_error = translated
    lost = isinstance(dbapi_error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
        dbapi_error, adapted, None
    )
    wrapped = exc.DBAPIError.instance(
        sql,
        tuple(values),  # hidden, as the engine hides them (hide_parameters)
        dbapi_error,
        dialect.loaded_dbapi.Error,
        hide_parameters=engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
    )
    if lost:
        # As the engine does: connections the pool made before this moment are recycled at
        # their next checkout (a restarted server took them all), and this one is closed.
        engine.pool._invalidate(fairy, wrapped, _checkin=False)
        await on.invalidate(wrapped)
    raise wrapped from error

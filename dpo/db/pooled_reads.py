"""A pooled connection for raw reads (dpo.db.raw_reads) reached without a session.

Why: a request whose database work is only raw reads used an `AsyncSession` just to reach
a connection: the session, its transaction, the engine's `Connection` and its root
transaction, each made and torn down per request: about 220-280 Python calls of an
uncached read (docs/WEB.md, what one uncached request costs). Here the
connection comes from the same pool through `AsyncEngine.raw_connection()`, SQLAlchemy's
documented way to a pooled DBAPI connection, is held while the reads last and is given
back by `close`.

Nothing else changes: it is one of the pool's connections, made by it (its connect events,
the dialect's codecs and whatever the URL or the server sets per connection, such as a
statement_timeout), recycled by it, and reset by it when given back (a rollback, which does
nothing: raw reads never open a transaction, as the read sessions' AUTOCOMMIT never did).
A read that loses the connection or is interrupted invalidates it here, as it invalidated
the session's (dpo.db.raw_reads), so it is closed rather than handed out again, and the
next read checks out another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn


class PooledReads:
    """A pooled connection for raw reads: checked out on first use, given back by `close`.

    One statement at a time (as a session): whoever shares it across tasks serialises them.
    """

    __slots__ = ("_connection", "engine")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: PoolProxiedConnection | None = None

    async def connection(self) -> PoolProxiedConnection:
        """The pooled connection, checked out now if none is held."""
        connection = self._connection
        if connection is None:
            dialect = self.engine.dialect
            try:
                connection = self._connection = await self.engine.raw_connection()
            except dialect.loaded_dbapi.Error as error:
                # Raised as the engine's `Connection` raises it when the pool cannot connect:
                # translated into SQLAlchemy's DBAPIError family, through handle_error events.
                Connection._handle_dbapi_exception_noconnection(
                    error, dialect, self.engine.sync_engine
                )
        return connection

    @property
    def holding(self) -> bool:
        """Whether a connection is checked out."""
        return self._connection is not None

    async def invalidate(self, error: BaseException) -> None:
        """Close the connection rather than give it back (lost, or in an unknown state), as
        `AsyncConnection.invalidate` does; the next read checks out another."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await greenlet_spawn(connection.invalidate, error)

    def close(self) -> None:
        """Give the connection back to the pool (a no-op if none is held)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


@asynccontextmanager
async def pooled_reads(engine: AsyncEngine) -> AsyncIterator[PooledReads]:
    """A `PooledReads` whose connection is given back when the block ends, however it ends."""
    reads = PooledReads(engine)
    try:
        yield reads
    finally:
        reads.close()

"""Engine, sessions and the unit of work that owns a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dpo.db.urls import async_url


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An asyncpg engine for any accepted PostgreSQL URL."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping per checkout (a round trip each); a connection the server dropped fails
        # one statement and SQLAlchemy then invalidates the pool. Recycled before any
        # idle timeout a proxy or server may apply.
        pool_pre_ping=False,
        pool_recycle=1800,
        echo=echo,
        # Bound values can hold personal data or secrets; errors and logs show only the SQL.
        hide_parameters=True,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only: each statement runs on its own, with no BEGIN and ROLLBACK.

    At READ COMMITTED (PostgreSQL's default, and ours) every statement of a transaction takes
    its own snapshot, so wrapping a request's reads in a transaction makes them no more
    consistent with each other; it only adds two round trips (BEGIN before the first
    statement, ROLLBACK when the session closes), about a third of an uncached read's
    messages. Never for writes: each statement would commit at once.
    """
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    async with sessions() as session, session.begin():
        yield session

"""Schema migrations through Alembic's Python API, for the CLI and the tests.

Alembic's commands are synchronous and migrations/env.py runs its async engine with
asyncio.run, so the plain functions must not be called from a running event loop. Async
callers use the `*_async` variants, which run the same function in a worker thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from dpo.db.urls import async_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config on our migrations folder and the given database, with no ini file."""
    config = Config()
    # ConfigParser treats % as interpolation; the path is the only option we set.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database down to `revision` ("base" drops everything)."""
    command.downgrade(alembic_config(url), revision)


def _heads(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


async def _database_heads(url: str) -> tuple[str, ...]:
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_heads)
    finally:
        await engine.dispose()


def current(url: str) -> str | None:
    """The revision the database is at, None when unmigrated (several heads joined by ',')."""
    heads = asyncio.run(_database_heads(url))
    return ",".join(sorted(heads)) if heads else None


def history(url: str) -> list[tuple[str, str, bool]]:
    """Every revision oldest first, as (revision, message, applied to this database)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    heads = asyncio.run(_database_heads(url))
    applied = {rev.revision for rev in script.iterate_revisions(heads, "base")} if heads else set()
    revisions = list(script.walk_revisions("base", "heads"))
    revisions.reverse()
    return [(rev.revision, rev.doc or "", rev.revision in applied) for rev in revisions]


def autogenerate(url: str, message: str) -> str:
    """Write a new revision from the models' differences with the database; return its path."""
    script = command.revision(alembic_config(url), message=message, autogenerate=True)
    scripts = script if isinstance(script, list) else [script]
    return ", ".join(s.path for s in scripts if s is not None)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` for callers inside an event loop."""
    await asyncio.to_thread(upgrade, url, revision)


async def downgrade_async(url: str, revision: str) -> None:
    """`downgrade` for callers inside an event loop."""
    await asyncio.to_thread(downgrade, url, revision)


async def current_async(url: str) -> str | None:
    """`current` for callers inside an event loop."""
    return await asyncio.to_thread(current, url)


async def history_async(url: str) -> list[tuple[str, str, bool]]:
    """`history` for callers inside an event loop."""
    return await asyncio.to_thread(history, url)

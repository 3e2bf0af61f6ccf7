"""Alembic environment: async (asyncpg) migrations of Base.metadata.

The URL is, in order: config.attributes["url"] (dpo.db.migrate), `-x url=...` (alembic
CLI), DATABASE_URL. A caller may also hand over a sync Connection in
config.attributes["connection"] (e.g. from AsyncConnection.run_sync). Otherwise the async
engine runs under asyncio.run, which cannot happen inside a running event loop: async
callers use dpo.db.migrate.upgrade_async and friends, which run Alembic in a thread.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from dpo.db.models import metadata
from dpo.db.urls import async_url
from dpo.settings import get_settings

# Replicas that all migrate on start wait for each other instead of racing.
MIGRATION_LOCK_KEY = 0x64706F6D6967  # "dpomig"

config = context.config
target_metadata = metadata

# Only the alembic CLI passes an ini file; the app keeps its own logging setup.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The target database as an asyncpg URL."""
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        secret = get_settings().database_url
        if secret is None:
            raise RuntimeError("no database URL: pass -x url=... or set DATABASE_URL")
        url = secret.get_secret_value()
    return async_url(str(url))


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (alembic upgrade --sql)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a sync connection, in one transaction under the migration lock."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        # Held to commit; the current revision is read after it is granted.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    """Open an asyncpg connection and run the migrations through it."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Run against a live database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async_migrations(database_url()))
        return
    raise RuntimeError(
        "Alembic was called inside a running event loop; "
        "use dpo.db.migrate.upgrade_async (or run it in a thread)"
    )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Migrated databases copied from one template per test process, not migrated each time.

Running every migration costs seconds of Python and DDL; CREATE DATABASE ... TEMPLATE copies
a migrated one in milliseconds. The template is only ever cloned (a clone needs it to have no
connections) and is dropped when the process exits. The migrations themselves are tested on
empty databases (tests/integration/db/test_migrations.py), and run by `dpo migrate`, `dpo up`
and each process's template.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import uuid

import asyncpg

from dpo.db.migrate import upgrade_async
from dpo.db.urls import with_database

# Server URL -> the name of this process's migrated template on it.
_templates: dict[str, str] = {}


async def execute(server_url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _drop_template(server_url: str, name: str) -> None:
    # The session's embedded server may have stopped first; the template went with its data.
    with contextlib.suppress(OSError):
        asyncio.run(execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def template(server_url: str) -> str:
    """This process's migrated template on the server, made on first use."""
    name = _templates.get(server_url)
    if name is None:
        name = f"dpo_tmpl_{uuid.uuid4().hex[:12]}"
        await execute(server_url, f'CREATE DATABASE "{name}"')
        await upgrade_async(with_database(server_url, name))
        _templates[server_url] = name
        atexit.register(_drop_template, server_url, name)
    return name


async def migrated_copy(server_url: str, prefix: str = "dpo_test") -> str:
    """The URL of a new database at the migrations' head (a copy of the template)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await execute(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{await template(server_url)}"')
    return with_database(server_url, name)


async def drop(server_url: str, url: str) -> None:
    """Drop the database `url` names, whoever is still connected to it."""
    name = url.rsplit("/", 1)[1]
    await execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

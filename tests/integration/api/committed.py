"""A database of its own whose data is really committed, for in-process schema runs.

The rolled-back `db` fixture shares one connection, which the concurrent DataLoader batches
of one request cannot use at the same time; a real pool can.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from starlette.requests import Request

from app.graphql.schema import build_schema
from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.migrate import upgrade_async
from dpo.db.session import create_engine, read_session_factory, session_factory
from dpo.db.urls import with_database
from dpo.runtime import Runtime
from dpo.settings import Settings
from resolvers.loaders import RequestLoaders
from schema.context import Context

schema = build_schema(debug=False)


@dataclass
class Api:
    """Run documents in process against a committed database."""

    runtime: Runtime
    url: str

    async def run(
        self, document: str, principal: Principal = ANONYMOUS, **variables: Any
    ) -> dict[str, Any]:
        """{"data": ..., "errors": [{"message", "code", ...}]}."""
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
        result = await schema.execute(
            document,
            variable_values=variables,
            context_value=Context(
                request=request,
                runtime=self.runtime,
                make_loaders=RequestLoaders,
                principal=principal,
            ),
        )
        errors = [{"message": e.message, **(e.extensions or {})} for e in result.errors or []]
        return {"data": result.data, "errors": errors}


# Server URL -> a migrated database of this process that is only ever cloned (never
# connected to), so each committed_api copies it instead of running every migration again.
_templates: dict[str, str] = {}


async def _execute(server_url: str, statement: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _drop_template(server_url: str, name: str) -> None:
    # The session's embedded server may have stopped first; the template went with its data.
    with contextlib.suppress(OSError):
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _template(server_url: str) -> str:
    name = _templates.get(server_url)
    if name is None:
        name = f"dpo_tmpl_{uuid.uuid4().hex[:12]}"
        await _execute(server_url, f'CREATE DATABASE "{name}"')
        await upgrade_async(with_database(server_url, name))
        _templates[server_url] = name
        atexit.register(_drop_template, server_url, name)
    return name


@asynccontextmanager
async def committed_api(pg_server_url: str) -> AsyncIterator[Api]:
    """A fresh migrated database (a copy of this process's template) and a runtime on it."""
    name = f"dpo_api_{uuid.uuid4().hex[:12]}"
    template = await _template(pg_server_url)
    await _execute(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = with_database(pg_server_url, name)
    engine = create_engine(url, pool_size=5)
    runtime = Runtime(
        settings=Settings(),
        engine=engine,
        sessions=session_factory(engine),
        read_sessions=read_session_factory(engine),
        redis=aioredis.Redis(),
    )
    try:
        yield Api(runtime=runtime, url=url)
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(pg_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

"""A database of its own whose data is really committed, for in-process schema runs.

The rolled-back `db` fixture shares one connection, which the concurrent DataLoader batches
of one request cannot use at the same time; a real pool can.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from starlette.requests import Request

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.migrate import upgrade_async
from dpo.db.session import create_engine, session_factory
from dpo.db.urls import with_database
from dpo.runtime import Runtime
from dpo.settings import Settings
from resolvers.context import Context
from schema.root import schema


@dataclass
class Api:
    """Run documents in process against a committed database."""

    runtime: Runtime
    url: str

    async def run(self, document: str, principal: Principal = ANONYMOUS,
                  **variables: Any) -> dict[str, Any]:
        """{"data": ..., "errors": [{"message", "code", ...}]}."""
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
        result = await schema.execute(document, variable_values=variables,
                                      context_value=Context(request=request,
                                                            runtime=self.runtime,
                                                            principal=principal))
        errors = [{"message": e.message, **(e.extensions or {})} for e in result.errors or []]
        return {"data": result.data, "errors": errors}


@asynccontextmanager
async def committed_api(pg_server_url: str) -> AsyncIterator[Api]:
    """A fresh migrated database and a runtime on it; dropped afterwards."""
    name = f"dpo_api_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(pg_server_url, name)
    await upgrade_async(url)
    engine = create_engine(url, pool_size=5)
    runtime = Runtime(settings=Settings(), engine=engine, sessions=session_factory(engine),
                      redis=aioredis.Redis())
    try:
        yield Api(runtime=runtime, url=url)
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(pg_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

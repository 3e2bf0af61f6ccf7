"""A database of its own whose data is really committed, for in-process schema runs.

The rolled-back `db` fixture shares one connection, which the concurrent DataLoader batches
of one request cannot use at the same time; a real pool can.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request

from app.graphql.schema import build_schema
from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.session import create_engine, read_session_factory, session_factory
from dpo.runtime import Runtime
from dpo.settings import Settings
from resolvers.loaders import RequestLoaders
from schema.context import Context
from tests.support.migrated import drop, migrated_copy

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


@asynccontextmanager
async def committed_api(pg_server_url: str) -> AsyncIterator[Api]:
    """A fresh migrated database (tests/support/migrated.py) and a runtime on it."""
    url = await migrated_copy(pg_server_url, "dpo_api")
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
        await drop(pg_server_url, url)

"""Run GraphQL documents in process against the real schema, on the test's rolled-back DB."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from app.graphql.schema import build_schema
from dpo.auth.principal import ANONYMOUS, Principal
from dpo.runtime import Runtime
from dpo.settings import Settings
from resolvers.loaders import RequestLoaders
from schema.context import Context

schema = build_schema(debug=False)

Execute = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def gql(db: AsyncSession) -> Execute:
    """Execute a document as a principal; returns {"data": ..., "errors": [...]}."""
    # Every session the resolvers open shares the test's connection, so all is rolled back;
    # so do their raw reads, run on such sessions rather than on a connection of the pool.
    sessions = async_sessionmaker(
        bind=db.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    runtime = Runtime(
        settings=Settings(),
        engine=None,  # type: ignore[arg-type]
        sessions=sessions,
        redis=aioredis.Redis(),
        raw_connections=sessions,
    )
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})

    async def execute(
        document: str, principal: Principal = ANONYMOUS, **variables: Any
    ) -> dict[str, Any]:
        result = await schema.execute(
            document,
            variable_values=variables,
            context_value=Context(
                request=request, runtime=runtime, make_loaders=RequestLoaders, principal=principal
            ),
        )
        errors = [{"message": e.message, **(e.extensions or {})} for e in result.errors or []]
        return {"data": result.data, "errors": errors}

    return execute


def code(result: dict[str, Any]) -> str | None:
    """The first error's code, or None."""
    errors = result["errors"]
    return str(errors[0]["code"]) if errors else None

"""The GraphQL limit extensions on a small schema with a recursive type and a slow field."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from schema.errors import ErrorFormatter
from schema.limits import Limits, limit_extensions
from schema.root import DpoSchema


@strawberry.type
class Node:
    name: str = "n"

    @strawberry.field
    def child(self) -> Node:
        return Node()


@strawberry.type
class Query:
    @strawberry.field
    def node(self) -> Node:
        return Node()

    @strawberry.field
    async def slow(self) -> str:
        await asyncio.sleep(30)
        return "late"


def make_schema(*, production: bool, limits: Limits | None = None) -> strawberry.Schema:
    extensions: list[Any] = [
        *limit_extensions(production=production, limits=limits or Limits()),
        partial(ErrorFormatter, debug=False),
    ]
    return DpoSchema(query=Query, extensions=extensions)


def nested(depth: int) -> str:
    return "{ node " + "{ child " * (depth - 1) + "{ name }" + " }" * depth


def codes(result: Any) -> list[str]:
    return [error.extensions["code"] for error in result.errors or ()]


async def test_depth_within_and_over_the_limit() -> None:
    schema = make_schema(production=True)
    ok = await schema.execute(nested(9))
    refused = await schema.execute(nested(11))
    assert ok.errors is None
    assert codes(refused) == ["LIMIT_EXCEEDED"]
    assert "depth" in refused.errors[0].message  # type: ignore[index]


async def test_aliases_over_the_limit() -> None:
    schema = make_schema(production=True)
    fifteen = "{ " + " ".join(f"a{i}: node {{ name }}" for i in range(15)) + " }"
    sixteen = "{ " + " ".join(f"a{i}: node {{ name }}" for i in range(16)) + " }"
    assert (await schema.execute(fifteen)).errors is None
    assert codes(await schema.execute(sixteen)) == ["LIMIT_EXCEEDED"]


async def test_tokens_over_the_limit() -> None:
    schema = make_schema(production=True, limits=Limits(max_tokens=50))
    small = await schema.execute("{ node { name } }")
    big = await schema.execute("{ node { " + "name " * 60 + "} }")
    assert small.errors is None
    assert codes(big) == ["LIMIT_EXCEEDED"]


async def test_execution_time_limit() -> None:
    schema = make_schema(production=True, limits=Limits(execution_seconds=0.05))
    result = await schema.execute("{ slow }")
    assert codes(result) == ["LIMIT_EXCEEDED"]
    assert result.data is None


async def test_introspection_and_suggestions_only_outside_production() -> None:
    introspect = "{ __schema { queryType { name } } }"
    typo = "{ node { nme } }"
    development, production = make_schema(production=False), make_schema(production=True)
    open_result = await development.execute(introspect)
    closed = await production.execute(introspect)
    assert open_result.data == {"__schema": {"queryType": {"name": "Query"}}}
    assert closed.data is None
    assert set(codes(closed)) == {"VALIDATION"}
    assert "introspection has been disabled" in closed.errors[0].message  # type: ignore[index]
    assert "Did you mean" in (await development.execute(typo)).errors[0].message  # type: ignore[index]
    hidden = await production.execute(typo)
    assert "Did you mean" not in hidden.errors[0].message  # type: ignore[index]
    assert "nme" in hidden.errors[0].message  # type: ignore[index]
    assert codes(hidden) == ["VALIDATION"]


def test_factories_make_fresh_extensions() -> None:
    factories = limit_extensions(production=True)
    first = [factory() for factory in factories]
    second = [factory() for factory in factories]
    assert all(isinstance(e, SchemaExtension) for e in first)
    assert all(a is not b for a, b in zip(first, second, strict=True))

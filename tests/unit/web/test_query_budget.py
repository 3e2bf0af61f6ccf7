"""schema.budget on a small schema: refusals before validation, the meter, extensions.cost."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from strawberry.types import ExecutionContext

from schema.budget import Spent
from schema.errors import ErrorFormatter
from schema.limits import Limits, limit_extensions
from schema.root import DpoSchema


@strawberry.type
class Item:
    name: str = "i"

    @strawberry.field
    def children(self, first: int = 10) -> list[Item]:
        return [Item() for _ in range(min(first, 3))]


@strawberry.type
class Query:
    @strawberry.field
    def item(self) -> Item:
        return Item()


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self) -> Item:
        return Item()


class Meter:
    """Grants `units` in all, then refuses."""

    def __init__(self, units: int) -> None:
        self.units = units
        self.charged: list[int] = []

    async def __call__(self, _: ExecutionContext, cost: int) -> Spent:
        self.charged.append(cost)
        if cost > self.units:
            return Spent(allowed=False, remaining=self.units, per_minute=100, retry_after=9)
        self.units -= cost
        return Spent(allowed=True, remaining=self.units, per_minute=100)


def make(meter: Meter | None = None, **limits: Any) -> strawberry.Schema:
    extensions: list[Any] = [
        *limit_extensions(production=True, limits=Limits(**limits), meter=meter),
        partial(ErrorFormatter, debug=False),
    ]
    return DpoSchema(query=Query, mutation=Mutation, extensions=extensions)


def codes(result: Any) -> list[str]:
    return [error.extensions["code"] for error in result.errors or ()]


async def test_a_query_within_budget_runs_charged_and_reports_its_cost() -> None:
    meter = Meter(100)
    result = await make(meter).execute("{ item { children(first: 4) { name } } }")
    assert result.errors is None
    assert meter.charged == [5]  # the item, and four children
    assert result.extensions == {
        "cost": {"requested": 5, "maximum": 5000, "remaining": 95, "perMinute": 100}
    }


async def test_over_the_request_maximum_is_refused_before_anything_runs() -> None:
    meter = Meter(10**6)
    result = await make(meter, max_cost=50).execute(
        "{ item { children(first: 10) { children(first: 10) { name } } } }"
    )
    assert codes(result) == ["LIMIT_EXCEEDED"]
    assert result.data is None
    assert meter.charged == []
    assert result.extensions["cost"]["requested"] == 111  # type: ignore[index]


async def test_a_spent_budget_is_refused_with_retry_after() -> None:
    meter = Meter(6)
    schema = make(meter)
    assert (await schema.execute("{ item { children(first: 4) { name } } }")).errors is None
    refused = await schema.execute("{ item { children(first: 4) { name } } }")
    assert codes(refused) == ["LIMIT_EXCEEDED"]
    assert refused.errors[0].extensions["retryAfter"] == 9  # type: ignore[index]
    assert refused.extensions["cost"]["remaining"] == 1  # type: ignore[index]


async def test_fan_out_is_refused_before_validation() -> None:
    lines = ["query { ...F0 }"] + [
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40)
    ]
    lines.append("fragment F40 on Query { item { name } }")
    result = await make(Meter(10), max_selections=100).execute("\n".join(lines))
    assert codes(result) == ["LIMIT_EXCEEDED"]
    assert "fragments are written out" in result.errors[0].message  # type: ignore[index]


async def test_mutations_are_charged_without_figures_in_their_answer() -> None:
    meter = Meter(100)
    result = await make(meter).execute("mutation { touch { children { name } } }")
    assert result.errors is None
    assert meter.charged == [11]
    assert not result.extensions


async def test_invalid_documents_are_not_charged() -> None:
    meter = Meter(100)
    result = await make(meter).execute("{ item { nope { name } } }")
    assert codes(result) == ["VALIDATION"]
    assert meter.charged == []


async def test_a_document_nested_past_the_parsers_guard_is_a_limit() -> None:
    result = await make(Meter(10)).execute(
        "{ item " + "{ children " * 400 + "{ name }" + " }" * 401
    )
    assert codes(result) == ["LIMIT_EXCEEDED"]
    assert "nested too deeply" in result.errors[0].message  # type: ignore[index]

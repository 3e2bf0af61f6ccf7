"""schema.plain_fields: plain scalar fields give what graphql-core's own path gives, cheaper.

The same queries run on two schemas that differ only in the executor (Strawberry's, ours);
answers and errors (messages, paths, null propagation) must be equal, and ours must not build
a resolve info for a plain field.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLField, GraphQLObjectType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema import plain_fields
from schema.plain_fields import PLANS_ATTRIBUTE, PlainFieldExecutor, plan_of


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Item:
    name: str
    count: int
    colour: Colour
    note: str | None = None
    missing: str = "x"  # set to None below: a null in a non-null field
    odd: strawberry.Private[Any] = None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def weird(self) -> int:
        return self.odd  # type: ignore[no-any-return]


@strawberry.type
class Holder:
    @strawberry.field
    def items(self) -> list[Item]:
        broken = Item(name="b", count=2**40, colour=Colour.RED)  # Int refuses 2**40
        broken.missing = None  # type: ignore[assignment]
        return [Item(name="a", count=1, colour=Colour.RED, note="n"), broken]

    @strawberry.field
    def item(self) -> Item:
        item = Item(name="c", count=3, colour=Colour.RED)
        item.odd = "not an int"
        return item


@strawberry.type
class Query:
    @strawberry.field
    def holder(self) -> Holder:
        return Holder()


class Counting(PlainFieldExecutor):
    infos = 0

    def build_resolve_info(self, *args: Any) -> Any:
        Counting.infos += 1
        return super().build_resolve_info(*args)


def schema(executor: type) -> strawberry.Schema:
    return strawberry.Schema(query=Query, execution_context_class=executor)


QUERIES = [
    "{ holder { item { name count colour note shout } } }",
    "{ holder { items { name count } } }",
    "{ holder { items { name missing } } }",
    "{ holder { items { note colour } } }",
    "{ holder { item { weird name } } }",
    "{ holder { a: item { name } b: item { name: count } } }",
]
FAILING = {QUERIES[1], QUERIES[2], QUERIES[4]}


@pytest.mark.parametrize("query", QUERIES)
async def test_answers_and_errors_are_graphql_cores(query: str) -> None:
    theirs = await schema(StrawberryGraphQLCoreExecutionContext).execute(query)
    ours = await schema(PlainFieldExecutor).execute(query)
    assert ours.data == theirs.data
    if query in FAILING:
        assert theirs.errors  # the cases that leave the short way
    assert [e.formatted for e in ours.errors or []] == [e.formatted for e in theirs.errors or []]


async def test_plain_fields_build_no_resolve_info() -> None:
    Counting.infos = 0
    result = await schema(Counting).execute("{ holder { item { name count colour note } } }")
    assert result.errors is None
    assert Counting.infos == 2  # holder and item (resolvers); none for the four scalars


def test_only_plain_scalar_fields_have_a_plan() -> None:
    graphql_schema = schema(PlainFieldExecutor)._schema
    item = graphql_schema.get_type("Item")
    assert isinstance(item, GraphQLObjectType)
    fields: dict[str, GraphQLField] = item.fields
    assert plan_of(fields["name"]) == ("name", graphql_schema.get_type("String"))
    assert plan_of(fields["colour"]) is not None
    assert plan_of(fields["shout"]) is None  # a resolver
    holder = graphql_schema.get_type("Holder")
    assert isinstance(holder, GraphQLObjectType)
    assert plan_of(holder.fields["item"]) is None  # an object


async def test_the_plans_are_kept_on_each_schema() -> None:
    first, second = schema(PlainFieldExecutor), schema(PlainFieldExecutor)
    assert (await first.execute("{ holder { item { name note } } }")).errors is None
    plans = getattr(first._schema, PLANS_ATTRIBUTE)
    assert plans["Item", "name"] == ("name", first._schema.get_type("String"), True)
    assert plans["Holder", "item"] is None  # not plain: graphql-core's path
    assert getattr(second._schema, PLANS_ATTRIBUTE, None) is None  # nothing shared
    assert [name for name in vars(plain_fields) if "PLANS" in name] == ["PLANS_ATTRIBUTE"]

"""schema.plain_objects: objects of plain fields give what graphql-core's own path gives.

The same queries run on two schemas that differ only in the executor (Strawberry's, ours):
answers and errors (messages, paths, null propagation) must serialize to the same bytes, and
ours must not execute a plain object's fields one by one.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from graphql import GraphQLString
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.plain_objects import PlainObjectExecutor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Item(Named):
    count: int
    colour: Colour
    price: Decimal
    at: datetime
    note: str | None = None


@strawberry.type
class Tag:
    label: str
    missing: str = "x"  # set to None below: a null in a non-null field


@strawberry.type
class Checked:
    label: str
    seen: strawberry.Private[list[Any]]

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        # What graphql-core gives is_type_of, recorded to compare both executors.
        obj.seen.append((info.field_name, info.parent_type.name, info.path.as_list()))
        return isinstance(obj, cls)


@strawberry.type
class ItemEdge:
    cursor: str
    node: Item


@strawberry.type
class TagEdge:
    cursor: str
    node: Tag | None


@strawberry.type
class CheckedEdge:
    cursor: str
    node: Checked


def item_edges(nodes: list[Any]) -> list[ItemEdge]:
    return [ItemEdge(cursor=str(i), node=node) for i, node in enumerate(nodes)]


SEEN: list[Any] = []  # reset per test


def items(broken: bool = False) -> list[Item]:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = Item(name="a", count=1, colour=Colour.RED, price=Decimal("1.50"), at=at, note="n")
    second = Item(name="b", count=2, colour=Colour.RED, price=Decimal("2"), at=at)
    if broken:
        second.count = 2**40  # Int refuses it
    return [first, second]


def tags() -> list[Tag]:
    bad = Tag(label="b")
    bad.missing = None  # type: ignore[assignment]
    return [Tag(label="a"), bad]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return items()

    @strawberry.field
    def broken(self) -> list[Item]:
        return items(broken=True)

    @strawberry.field
    def tags(self) -> list[Tag] | None:
        return tags()

    @strawberry.field
    def item(self) -> Item:
        return items()[0]

    @strawberry.field
    def tag(self) -> Tag | None:
        return tags()[1]

    @strawberry.field
    def edges(self) -> list[ItemEdge]:
        return item_edges(items())

    @strawberry.field
    def broken_edges(self) -> list[ItemEdge]:
        return item_edges(items(broken=True))

    @strawberry.field
    def null_node(self) -> list[ItemEdge] | None:
        return item_edges([items()[0], None])

    @strawberry.field
    def wrong_node(self) -> list[ItemEdge]:
        return item_edges([items()[0], Tag(label="t")])

    @strawberry.field
    def tag_edges(self) -> list[TagEdge]:
        return [TagEdge(cursor=str(i), node=node) for i, node in enumerate([*tags(), None])]

    @strawberry.field
    def edge(self) -> ItemEdge:
        return item_edges(items())[1]

    @strawberry.field
    def checked(self) -> list[CheckedEdge]:
        return [CheckedEdge(cursor="c", node=Checked(label="l", seen=SEEN))]

    @strawberry.field
    def fails(self) -> str:
        raise ValueError("sibling failed")


class Counting(PlainObjectExecutor):
    fields: list[str] = []  # reset per test

    def execute_field(self, parent_type: Any, *args: Any) -> Any:
        Counting.fields.append(parent_type.name)
        return super().execute_field(parent_type, *args)


def schema(executor: type) -> strawberry.Schema:
    return strawberry.Schema(query=Query, execution_context_class=executor)


FRAGMENT = "fragment F on Item { n: name count }"
QUERIES = [
    "{ items { name count colour price at note __typename } }",
    "{ items { a: name b: name ...on Item { colour } ...F } } " + FRAGMENT,
    "query($s: Boolean!) { items { name @skip(if: $s) count @include(if: $s) note } }",
    "{ broken { name count } }",
    "{ broken { name note } }",
    "{ tags { label missing } }",
    "{ tags { label } tag { label missing } }",
    "{ item { name price } fails }",
    "{ items { name } fails broken { count } }",
    "{ item { __typename at } tag { __typename label } }",
    "{ edges { cursor node { name count colour price at note __typename } } }",
    "{ edges { c: cursor n: node { name } node { count } __typename } edge { node { at } } }",
    "{ brokenEdges { cursor node { name count } } }",
    "{ nullNode { cursor node { name } } }",
    "{ wrongNode { cursor node { name } } }",
    "{ tagEdges { cursor node { label } } }",
    "{ tagEdges { cursor node { label missing } } }",
    "{ edges { node { name } } fails brokenEdges { node { count } } }",
    "{ checked { cursor node { label } } }",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("skip", [True, False])
async def test_answers_and_errors_are_byte_identical(query: str, skip: bool) -> None:
    theirs = await schema(StrawberryGraphQLCoreExecutionContext).execute(query, {"s": skip})
    ours = await schema(PlainObjectExecutor).execute(query, {"s": skip})

    def encoded(result: Any) -> str:
        errors = [e.formatted for e in result.errors or []]
        return json.dumps({"data": result.data, "errors": errors})

    assert encoded(ours) == encoded(theirs)


async def test_nested_is_type_of_gets_graphql_cores_info() -> None:
    query = "{ checked { cursor node { label } } }"
    SEEN.clear()
    assert (await schema(StrawberryGraphQLCoreExecutionContext).execute(query)).errors is None
    theirs = list(SEEN)
    SEEN.clear()
    assert (await schema(Counting).execute(query)).errors is None
    assert SEEN == theirs == [("node", "CheckedEdge", ["checked", 0, "node"])]


async def test_failing_cases_fail() -> None:
    # The cases that must leave the short way do fail on graphql-core's path.
    for query in (
        "{ broken { count } }",
        "{ tags { missing } }",
        "{ item { name } fails }",
        "{ brokenEdges { node { count } } }",
        "{ nullNode { node { name } } }",
        "{ wrongNode { node { name } } }",
        "{ tagEdges { node { missing } } }",
    ):
        result = await schema(StrawberryGraphQLCoreExecutionContext).execute(query)
        assert result.errors


async def test_plain_objects_execute_no_field_one_by_one() -> None:
    Counting.fields = []
    result = await schema(Counting).execute("{ items { name count __typename } item { at } }")
    assert result.errors is None
    assert Counting.fields == ["Query", "Query"]  # the two resolvers; no Item field
    Counting.fields = []
    # A field that is not plain (a null in a non-null field) sends the object back.
    assert (await schema(Counting).execute("{ tag { label missing } }")).errors
    assert Counting.fields == ["Query", "Tag", "Tag"]
    Counting.fields = []
    # An edge (a plain cursor and a node of plain fields) is one loop too, nested included.
    query = (
        "{ edges { cursor node { name __typename } } edge { node { at } } "
        "checked { node { label } } }"
    )
    assert (await schema(Counting).execute(query)).errors is None
    assert Counting.fields == ["Query", "Query", "Query"]
    Counting.fields = []
    # A null node in a non-null field sends the whole edge back to graphql-core.
    assert (await schema(Counting).execute("{ nullNode { cursor node { name } } }")).errors
    assert "ItemEdge" in Counting.fields


async def test_the_object_plans_live_with_the_operation() -> None:
    executors: list[Counting] = []

    class Keeping(Counting):
        def execute_operation(self, *args: Any) -> Any:
            executors.append(self)
            return super().execute_operation(*args)

    assert (await schema(Keeping).execute("{ items { name } }")).errors is None
    plans = executors[0]._object_plans
    assert plans is not None
    assert [plan for _, plan in plans.values() if plan] == [
        (("name", "name", GraphQLString, True, None),)
    ]

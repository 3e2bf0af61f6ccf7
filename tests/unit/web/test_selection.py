"""`selects` answers on graphql-core's document as Strawberry's `selected_fields` did."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from schema.selection import selects

PATHS = [
    ("totalCount",),
    ("edges",),
    ("edges", "node"),
    ("edges", "node", "issuer"),
    ("edges", "node", "totals"),
    ("edges", "node", "issuer", "name"),
    ("node",),
    ("issuer",),
    ("nothing",),
]


def reference(info: Any, *path: str) -> bool:
    """The answer as Strawberry's converted selection gives it (the former implementation)."""

    def reaches(selections: list[Selection], path: tuple[str, ...]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == path[0] and (
                    len(path) == 1 or reaches(selection.selections, path[1:])
                ):
                    return True
            elif isinstance(selection, FragmentSpread | InlineFragment) and reaches(
                selection.selections, path
            ):
                return True
        return False

    below = [
        selection
        for field in info.selected_fields
        if isinstance(field, SelectedField)
        for selection in field.selections
    ]
    return reaches(below, path)


@strawberry.type
class Issuer:
    name: str = "i"


@strawberry.type
class Item:
    issuer: Issuer = strawberry.field(default_factory=Issuer)
    totals: int = 1


@strawberry.type
class Edge:
    node: Item = strawberry.field(default_factory=Item)


@strawberry.type
class Page:
    total_count: int = 1
    edges: list[Edge] = strawberry.field(default_factory=lambda: [Edge()])


answers: list[tuple[tuple[str, ...], bool, bool]] = []


@strawberry.type
class Query:
    @strawberry.field
    def page(self, info: strawberry.Info) -> Page:
        for path in PATHS:
            answers.append((path, selects(info, *path), reference(info, *path)))
        return Page()


QUERIES = [
    "{ page { totalCount } }",
    "{ page { edges { node { issuer { name } } } } }",
    "{ page { edges { node { totals } } } }",
    "{ page { edges { cursor: __typename } } }",
    "{ a: page { totalCount } b: page { edges { node { totals } } } }",
    "{ page { totalCount } page { edges { node { issuer { name } } } } }",
    "{ page { ...P } } fragment P on Page { edges { ...E } } "
    "fragment E on Edge { node { totals } }",
    "{ page { ... on Page { edges { node { ... { issuer { name } } } } } } }",
    "{ page { edges @skip(if: true) { node { totals } } } }",
    "query Q($n: Boolean!) { page { edges { node { issuer @include(if: $n) { name } } } } }",
    "{ page { e: edges { n: node { t: totals } } } }",
    "{ page { __typename } }",
]


async def test_selects_agrees_with_strawberrys_selected_fields() -> None:
    schema = strawberry.Schema(query=Query)
    for query in QUERIES:
        answers.clear()
        result = await schema.execute(query, variable_values={"n": False})
        assert result.errors is None, (query, result.errors)
        assert answers, query  # `page` was resolved
        for path, ours, theirs in answers:
            assert ours == theirs, (query, path, ours, theirs)
    # The queries reach every path somewhere, and miss each somewhere: the check is not empty.
    answers.clear()
    for query in QUERIES:
        await schema.execute(query, variable_values={"n": False})
    seen = {(path, ours) for path, ours, _ in answers}
    assert {path for path, ours in seen if ours} == set(PATHS[:6])
    assert all((path, False) in seen for path in PATHS)

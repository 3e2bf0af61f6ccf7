"""A relation a page's resolver filled in is returned as it is; otherwise the field's own
resolver runs, with Strawberry's rules (permissions leave a field as it was)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.permission import BasePermission

from schema.preloaded import MARK, preloaded
from schema.root import DpoSchema

called: list[str] = []


@strawberry.type
class Child:
    name: str


@preloaded("loaded_child")
def _child(root: Parent) -> Child:
    called.append("child")
    return root.loaded_child or Child(name="loaded by the resolver")


class Nobody(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@preloaded("loaded_child")
def _guarded(root: Parent) -> Child:
    called.append("guarded")
    return Child(name="never")


@strawberry.type
class Parent:
    loaded_child: strawberry.Private[Child | None] = None
    child: Child = strawberry.field(resolver=_child)
    guarded: Child | None = strawberry.field(resolver=_guarded, permission_classes=[Nobody])


@strawberry.type
class Query:
    @strawberry.field
    def parents(self) -> list[Parent]:
        return [Parent(loaded_child=Child(name="preloaded")), Parent()]


async def test_preloaded_values_skip_the_resolver_and_others_run_it() -> None:
    schema = DpoSchema(query=Query)
    parent = schema._schema.type_map["Parent"]
    assert isinstance(parent, GraphQLObjectType)
    fields = parent.fields
    assert getattr(fields["child"].resolve, MARK, None) == "loaded_child"
    assert getattr(fields["guarded"].resolve, MARK, None) is None  # has an extension
    called.clear()
    result = await schema.execute("{ parents { child { name } guarded { name } } }")
    assert result.data == {
        "parents": [
            {"child": {"name": "preloaded"}, "guarded": None},
            {"child": {"name": "loaded by the resolver"}, "guarded": None},
        ]
    }
    assert [error.message for error in result.errors or []] == ["no", "no"]
    assert called == ["child"]  # only the node without the value ran the resolver


def test_the_apis_preloaded_relations_are_installed() -> None:
    from app.graphql.schema import build_schema

    offering = build_schema(debug=False)._schema.type_map["Offering"]
    assert isinstance(offering, GraphQLObjectType)
    marks = {name: getattr(field.resolve, MARK, None) for name, field in offering.fields.items()}
    assert marks["issuer"] == "loaded_issuer"
    assert marks["totals"] == "loaded_totals"

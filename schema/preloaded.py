"""Relation fields a page's resolver may have filled in already, resolved without Strawberry's
resolver wrapper when it has.

A root field that reads a relation for all its nodes at once (an offering's issuer and
totals: schema.selection) leaves the value on each node; the field's resolver then only
returns it. Strawberry's wrapper around that resolver still converts the resolve info and
the arguments and checks the result, about fifteen Python calls per field: 40 fields on a
page of 20 offerings. A resolver marked `@preloaded("loaded_issuer")` gets, once the
GraphQL schema is built, a resolve function that returns the node's attribute when it is
set and calls Strawberry's own otherwise (the loader path, with every rule of Strawberry's).
graphql-core still builds the resolve info and completes the value, so errors, paths and
null propagation are its own. Fields with extensions (permissions among them) are left as
they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from graphql import GraphQLObjectType, GraphQLSchema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

MARK = "dpo_preloaded"
F = TypeVar("F", bound=Callable[..., Any])


def preloaded(attribute: str) -> Callable[[F], F]:
    """Mark a relation's resolver: it returns `root.<attribute>` whenever that is not None."""

    def mark(resolver: F) -> F:
        setattr(resolver, MARK, attribute)
        return resolver

    return mark


def install(schema: GraphQLSchema) -> int:
    """Give each marked field of `schema` its lean resolve function; how many were found."""
    found = 0
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for field in type_.fields.values():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(definition, StrawberryField) or definition.base_resolver is None:
                continue
            attribute = getattr(definition.base_resolver.wrapped_func, MARK, None)
            if attribute is None or definition.extensions or field.resolve is None:
                continue
            field.resolve = _lean(attribute, field.resolve)
            found += 1
    return found


def _lean(attribute: str, strawberrys: Callable[..., Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any, **arguments: Any) -> Any:
        value = getattr(source, attribute)
        return strawberrys(source, info, **arguments) if value is None else value

    resolve.dpo_preloaded = attribute  # type: ignore[attr-defined]
    return resolve

"""Scalar fields that read an attribute, executed without graphql-core's per-field machinery.

Most fields of a page are plain: a Strawberry field with no resolver and no field extension
(`is_basic_field`), returning a scalar or an enum read from an attribute of its parent. For
each, graphql-core builds a resolve-info tuple of 16 members (which Strawberry's basic resolver
never reads), calls Strawberry's resolver wrapper, then walks complete_value's type checks to
reach the scalar's serializer: about ten Python calls per field, 20 items x 14 fields on an
events page. `PlainFieldExecutor.execute_field` reads the attribute and serializes it directly.

Only the plain, successful case takes the short way; anything else (a null, an exception, a
value the scalar refuses, field middleware, arguments) runs graphql-core's own execute_field
from the start, so errors, their paths and null propagation are exactly graphql-core's. A
plain read has no side effects, so reading it again there is harmless.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# Where a GraphQL schema keeps its fields' plans: (type name, field name) -> (attribute, leaf
# type, non-null) or None when the field is not plain; found on first use of each field.
# Kept on the schema object itself, so they live and die with it.
PLANS_ATTRIBUTE = "dpo_plain_plans"
Plan = tuple[str, GraphQLLeafType, bool]
_UNKNOWN = object()
# Values that are neither awaitable nor an exception, checked by type alone.
SIMPLE = frozenset({str, int, float, bool, type(None), Decimal, datetime, date, dict, list})


def attribute_of(field: GraphQLField) -> str | None:
    """The attribute `field` reads when it has no resolver, extension nor arguments."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolve = field.resolve
    if (
        isinstance(definition, StrawberryField)
        and definition.is_basic_field
        and definition.default_resolver is getattr
        and getattr(resolve, "_is_default", False) is True
        and getattr(resolve, "__name__", "") == "_get_basic_result"
        and not field.args
    ):
        return definition.python_name
    return None


def plan_of(field: GraphQLField) -> tuple[str, GraphQLLeafType] | None:
    """What reading `field` takes when it is plain (attribute name, leaf type), else None."""
    leaf = field.type.of_type if is_non_null_type(field.type) else field.type
    if not is_leaf_type(leaf):
        return None
    attribute = attribute_of(field)
    return None if attribute is None else (attribute, leaf)


def _planned(schema: GraphQLSchema, parent_type: GraphQLObjectType, name: str) -> Plan | None:
    """The plan of `parent_type.name`, found and kept on the schema (None for meta fields)."""
    plans: dict[tuple[str, str], Plan | None] | None = getattr(schema, PLANS_ATTRIBUTE, None)
    if plans is None:
        plans = {}
        setattr(schema, PLANS_ATTRIBUTE, plans)
    field = parent_type.fields.get(name)
    found = plan_of(field) if field is not None else None
    plan = None if found is None or field is None else (*found, is_non_null_type(field.type))
    plans[parent_type.name, name] = plan
    return plan


def field_plan(schema: GraphQLSchema, parent_type: GraphQLObjectType, name: str) -> Plan | None:
    """The kept plan of `parent_type.name` (None when the field is not plain)."""
    plans = getattr(schema, PLANS_ATTRIBUTE, None)
    plan = plans.get((parent_type.name, name), _UNKNOWN) if plans is not None else _UNKNOWN
    if plan is _UNKNOWN:
        return _planned(schema, parent_type, name)
    return plan  # type: ignore[return-value]


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with plain scalar fields read and serialized directly."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        """The plain field's serialized value, or graphql-core's execute_field."""
        manager = self.middleware_manager
        if manager is None or not manager.middlewares:
            node = field_details_list[0].node
            name = node.name.value
            plan = field_plan(self.schema, parent_type, name)
            if plan is not None and not node.arguments:
                attribute, leaf, non_null = plan
                try:
                    value = getattr(source, attribute)
                    if type(value) not in SIMPLE and (
                        isinstance(value, Exception) or self.is_awaitable(value)
                    ):
                        pass  # graphql-core raises it, or awaits it
                    elif value is not None and value is not Undefined:
                        coerced = leaf.coerce_output_value(value)
                        if coerced is not None and coerced is not Undefined:
                            return coerced
                    elif not non_null:
                        return None
                except Exception:  # noqa: S110 - graphql-core's path reports it
                    pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

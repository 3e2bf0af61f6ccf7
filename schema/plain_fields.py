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

from graphql import GraphQLField, GraphQLLeafType, GraphQLObjectType, is_leaf_type, is_non_null_type
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# A field's plan: (attribute, scalar or enum type), or None when it is not plain. Keyed by the
# field's id with the field kept alive in the entry (GraphQLField compares by value and is not
# hashable); a schema's fields live as long as the schema.
_PLANS: dict[int, tuple[GraphQLField, tuple[str, GraphQLLeafType] | None]] = {}
# Values that are neither awaitable nor an exception, checked by type alone.
_SIMPLE = frozenset({str, int, float, bool, type(None), Decimal, datetime, date, dict, list})


def plan_of(field: GraphQLField) -> tuple[str, GraphQLLeafType] | None:
    """What reading `field` takes when it is plain (attribute name, leaf type), else None."""
    known = _PLANS.get(id(field))
    if known is not None and known[0] is field:
        return known[1]
    plan: tuple[str, GraphQLLeafType] | None = None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolve = field.resolve
    leaf = field.type.of_type if is_non_null_type(field.type) else field.type
    if (
        isinstance(definition, StrawberryField)
        and definition.is_basic_field
        and definition.default_resolver is getattr
        and getattr(resolve, "_is_default", False) is True
        and getattr(resolve, "__name__", "") == "_get_basic_result"
        and not field.args
        and is_leaf_type(leaf)
    ):
        plan = (definition.python_name, leaf)
    _PLANS[id(field)] = (field, plan)
    return plan


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
            # Meta fields (__typename) are not in `fields`: graphql-core's path serves them.
            field = parent_type.fields.get(node.name.value)
            known = _PLANS.get(id(field)) if field is not None else None
            plan = known[1] if known is not None and known[0] is field else None
            if known is None and field is not None:
                plan = plan_of(field)
            if plan is not None and not node.arguments:
                try:
                    value = getattr(source, plan[0])
                    if type(value) not in _SIMPLE and (
                        isinstance(value, Exception) or self.is_awaitable(value)
                    ):
                        pass  # graphql-core raises it, or awaits it
                    elif value is not None and value is not Undefined:
                        coerced = plan[1].coerce_output_value(value)
                        if coerced is not None and coerced is not Undefined:
                            return coerced
                    elif not is_non_null_type(field.type):
                        return None
                except Exception:  # noqa: S110 - graphql-core's path reports it
                    pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

"""Objects whose selected fields are all plain, completed in one loop.

schema.plain_fields reads a plain field (no resolver, no field extension, no arguments, a
scalar or an enum read from an attribute) without graphql-core's per-field machinery, but
graphql-core still walks each object field by field: a Path and an execute_field call per
field, and per item of a list of objects the complete_value chain (non-null, object,
is_type_of, collect and execute subfields), ~8 calls before the first field is read. On an
events page that is 20 items x 14 fields. Here, when every field selected on an object is
plain (or `__typename`), the object's result dict is built in one loop: attribute read and
serialization per field, aliases as response keys. A list of such objects (no `@stream`) is
built in one loop too, each item's `is_type_of` check (Strawberry sets one on types with
interfaces) called as complete_object_value calls it. One level down too: an object field
read from an attribute (no resolver, extension nor arguments) whose own selection is such an
object (a Relay edge's `node`, beside its plain `cursor`) is completed inside its parent's
loop, its `is_type_of` given the resolve info graphql-core would give it (that field's, at
its path), so a page's edges no longer go field by field.

Anything unusual (a None, an exception or an awaitable read, a value the scalar refuses, an
item that is None, an exception or an awaitable, a nested object that is None in a non-null
field or that its `is_type_of` does not accept) abandons the short way for the whole object
or list, which graphql-core then executes from the start: errors, their paths and null
propagation are exactly graphql-core's. Plain reads have no side effects, so reading them
again there is harmless. Field middleware (an extension with a `resolve` hook must see every
field) turns the short way off, as in schema.plain_fields.

The plan of an object (its response keys with their field plans) is kept per operation,
keyed by the grouped field set graphql-core's collect_subfields memoizes for the operation
(kept alive with it, as graphql-core keeps its own memo); it is built from the per-field
plans schema.plain_fields keeps on the schema, so nothing query-shaped outlives the operation.
"""

from __future__ import annotations

from types import GeneratorType
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    is_non_null_type,
)
from graphql.pyutils import Path, Undefined

from schema.plain_fields import (
    PLANS_ATTRIBUTE,
    SIMPLE,
    PlainFieldExecutor,
    attribute_of,
    field_plan,
)

# An object field read from an attribute whose selection is itself a plan: its type, that
# plan, and the field with its nodes (for the resolve info is_type_of is given).
Nested = tuple[GraphQLObjectType, "ObjectPlan", GraphQLField, list[FieldNode]]
# (response key, attribute, leaf type, non-null, nested); a None leaf is a nested object,
# or `__typename` when nested is None too.
Step = tuple[str, str, GraphQLLeafType | None, bool, Nested | None]
ObjectPlan = tuple[Step, ...]
_FAILED = object()
_UNKNOWN = object()


class PlainObjectExecutor(PlainFieldExecutor):
    """PlainFieldExecutor, with objects made only of plain fields completed in one loop."""

    _object_plans: dict[tuple[str, int], tuple[Any, ObjectPlan | None]] | None = None

    def object_plan(self, parent_type: GraphQLObjectType, grouped: Any) -> ObjectPlan | None:
        """The plan of `grouped` on `parent_type`, or None when a field is not plain."""
        plans = self._object_plans
        if plans is None:
            plans = self._object_plans = {}
        key = (parent_type.name, id(grouped))
        kept = plans.get(key)
        if kept is not None and kept[0] is grouped:
            return kept[1]
        plan = self._build_plan(parent_type, grouped)
        plans[key] = (grouped, plan)  # the set kept alive: its id is not reused
        return plan

    def _build_plan(self, parent_type: GraphQLObjectType, grouped: Any) -> ObjectPlan | None:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return None
        schema = self.schema
        known = getattr(schema, PLANS_ATTRIBUTE, None) or {}
        type_name = parent_type.name
        steps: list[Step] = []
        for response_key, details in grouped.items():
            node = details[0].node  # validation: every node of the group has its arguments
            name = node.name.value
            if name == "__typename":
                steps.append((response_key, "", None, True, None))
                continue
            plan = known.get((type_name, name), _UNKNOWN)
            if plan is _UNKNOWN:
                plan = field_plan(schema, parent_type, name)
            if node.arguments:
                return None
            if plan is not None:
                attribute, leaf, non_null = plan
                steps.append((response_key, attribute, leaf, non_null, None))
                continue
            step = self._nested_step(parent_type, response_key, details)
            if step is None:
                return None
            steps.append(step)
        return tuple(steps)

    def _nested_step(self, parent_type: GraphQLObjectType, key: str, details: Any) -> Step | None:
        """An object field read from an attribute, whose own selection is all plain."""
        field = parent_type.fields.get(details[0].node.name.value)
        attribute = attribute_of(field) if field is not None else None
        if field is None or attribute is None:
            return None
        non_null = is_non_null_type(field.type)
        inner = field.type.of_type if non_null else field.type
        if not isinstance(inner, GraphQLObjectType):
            return None
        grouped, deferred, _forbidden = self.collect_subfields(inner, details)
        plan = None if deferred else self.object_plan(inner, grouped)
        if plan is None:
            return None
        return (key, attribute, None, non_null, (inner, plan, field, [d.node for d in details]))

    def _nested_value(
        self, parent_type: GraphQLObjectType, source: Any, path: Path | None, step: Step
    ) -> Any:
        """A nested object's result dict (or None), or _FAILED; as complete_object_value."""
        response_key, attribute, _leaf, non_null, nested = step
        inner, plan, field, nodes = nested  # type: ignore[misc]
        try:
            value = getattr(source, attribute)
            if value is None or value is Undefined:
                return _FAILED if non_null else None
            if isinstance(value, Exception) or self.is_awaitable(value):
                return _FAILED
            field_path = Path(path, response_key, parent_type.name)
            is_type_of = inner.is_type_of
            # With the nested field's own info, as graphql-core calls it; anything but True
            # (an awaitable, a refusal) is graphql-core's to handle.
            if is_type_of is not None and (
                is_type_of(value, self.build_resolve_info(field, nodes, parent_type, field_path))
                is not True
            ):
                return _FAILED
        except Exception:
            return _FAILED
        return self.plain_object(inner, value, plan, field_path)

    def plain_object(
        self, parent_type: GraphQLObjectType, source: Any, plan: ObjectPlan, path: Path | None
    ) -> Any:
        """The object's result dict, or _FAILED when graphql-core must complete it."""
        result: dict[str, Any] = {}
        for step in plan:
            response_key, attribute, leaf, non_null, nested = step
            if leaf is None:
                if nested is None:
                    result[response_key] = parent_type.name
                    continue
                done = self._nested_value(parent_type, source, path, step)
                if done is _FAILED:
                    return _FAILED
                result[response_key] = done
                continue
            try:
                value = getattr(source, attribute)
                if type(value) not in SIMPLE and (
                    isinstance(value, Exception) or self.is_awaitable(value)
                ):
                    return _FAILED
                if value is None or value is Undefined:
                    if non_null:
                        return _FAILED
                    result[response_key] = None
                    continue
                coerced = leaf.coerce_output_value(value)
            except Exception:
                return _FAILED
            if coerced is None or coerced is Undefined:
                return _FAILED
            result[response_key] = coerced
        return result

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """The object in one loop when all its fields are plain, else graphql-core's way."""
        plan = self.object_plan(parent_type, grouped_field_set)
        if plan is not None:
            done = self.plain_object(parent_type, source_value, plan, path)
            if done is not _FAILED:
                return done
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def complete_list_value(
        self,
        return_type: GraphQLList[Any],
        field_details_list: Any,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A list of plain objects in one loop, else graphql-core's way."""
        item_type = return_type.of_type
        if is_non_null_type(item_type):
            item_type = item_type.of_type
        if (
            type(result) in (list, tuple)
            and isinstance(item_type, GraphQLObjectType)
            and self.get_stream_usage(field_details_list, path) is None
        ):
            grouped, deferred, _forbidden = self.collect_subfields(item_type, field_details_list)
            plan = None if deferred else self.object_plan(item_type, grouped)
            if plan is not None:
                done = self._plain_list(item_type, result, plan, info, path)
                if done is not None:
                    return done
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _plain_list(
        self, item_type: GraphQLObjectType, items: Any, plan: ObjectPlan, info: Any, path: Path
    ) -> list[Any] | None:
        is_type_of = item_type.is_type_of
        nests = any(step[4] is not None for step in plan)  # item paths only when read
        completed: list[Any] = []
        checked: type | None = None
        for index, item in enumerate(items):
            kind = type(item)
            if kind is not checked:  # items are mostly of one class: checked once
                if (
                    item is None
                    or isinstance(item, (Exception, GeneratorType))
                    or self.is_awaitable(item)
                ):
                    return None
                checked = kind
            # As complete_object_value: with the list field's info; anything but True (an
            # awaitable, a refusal) is graphql-core's to handle.
            if is_type_of is not None and is_type_of(item, info) is not True:
                return None
            done = self.plain_object(
                item_type, item, plan, Path(path, index, None) if nests else None
            )
            if done is _FAILED:
                return None
            completed.append(done)
        return completed

"""The size and the cost of a GraphQL document, measured once per fragment (pure functions).

A fragment spread twice is written once but executed and validated twice: `fragment F0 on Query
{ ...F1 ...F1 }` chained n deep expands to 2ⁿ selections from a few hundred bytes, and any rule
that follows spreads (Strawberry's depth and alias limiters did) takes 2ⁿ steps. Here every
fragment is measured once and its figures reused wherever it is spread, so measuring takes time
linear in the document's text whatever it expands to; a fragment cycle counts as empty (graphql-
core's NoFragmentCycles rule reports it).

- `shape`: what the document expands to, whatever the schema: selections (fields, once every
  fragment is written out), depth per operation and aliases, as Strawberry's limiters count them.
- `estimate_nodes`: the objects an operation may return, from the schema and the variables: a
  list field returns the page size of the connection it belongs to (`first`/`last`, or the
  field's default), or DEFAULT_LIST items when it is not paginated; everything under it is
  multiplied by that. Scalars are free: an object costs its row whatever columns are read.
  `offerings(first: 100) { edges { node { issuer { offerings(first: 100) { edges { node { id }
  } } } } } }` is 1 + 100 * (1 + 1 + 1 + 1 + 100 * 2) = 20,401 nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)

# A connection's page when the query names none (schema.relay's default).
DEFAULT_PAGE = 20
# Items assumed of a list field that takes no page size (totals, rates, dependencies).
DEFAULT_LIST = 20
# Figures stop growing here: anything this large is refused anyway, and the numbers stay small.
CEILING = 10**15
_PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True)
class Shape:
    """What a document expands to once every fragment is written out."""

    selections: int
    aliases: int
    depths: dict[str, int] = field(default_factory=dict)  # operation name (or "anonymous")


@dataclass
class _Figures:
    selections: int = 0
    aliases: int = 0
    depth: int = 0


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def operation_name_of(definition: OperationDefinitionNode) -> str:
    """The name Strawberry's depth limiter reports an operation by."""
    return definition.name.value if definition.name else "anonymous"


def shape(document: DocumentNode) -> Shape:
    """Selections, aliases and depths of the document, fragments measured once each."""
    fragments = _fragments(document)
    memo: dict[str, _Figures] = {}
    open_: set[str] = set()

    def of_set(selection_set: SelectionSetNode | None) -> _Figures:
        total = _Figures()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                inner = of_set(selection.selection_set)
                total.selections = min(CEILING, total.selections + 1 + inner.selections)
                total.aliases = min(
                    CEILING, total.aliases + inner.aliases + (1 if selection.alias else 0)
                )
                # Strawberry's limiter: leaves and introspection fields (`__…`) add no depth.
                if selection.selection_set and not selection.name.value.startswith("__"):
                    total.depth = max(total.depth, 1 + inner.depth)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = of_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = of_fragment(selection.name.value)
            else:  # pragma: no cover - graphql-core has no other selection
                continue
            total.selections = min(CEILING, total.selections + inner.selections)
            total.aliases = min(CEILING, total.aliases + inner.aliases)
            total.depth = max(total.depth, inner.depth)
        return total

    def of_fragment(name: str) -> _Figures:
        known = memo.get(name)
        if known is not None:
            return known
        definition = fragments.get(name)
        if definition is None or name in open_:
            return _Figures()  # unknown (a validation error) or a cycle (likewise)
        open_.add(name)
        try:
            figures = of_set(definition.selection_set)
        finally:
            open_.discard(name)
        memo[name] = figures
        return figures

    selections = aliases = 0
    depths: dict[str, int] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            figures = of_set(definition.selection_set)
            selections = min(CEILING, selections + figures.selections)
            aliases = min(CEILING, aliases + figures.aliases)
            name = operation_name_of(definition)
            depths[name] = max(depths.get(name, 0), figures.depth)
    # A fragment no operation spreads is still validated: its expansion counts too.
    for name in fragments:
        selections = max(selections, of_fragment(name).selections)
    return Shape(selections=selections, aliases=aliases, depths=depths)


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation that would run (None when the name matches none or is ambiguous)."""
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


def _int(
    node: ValueNode | None, variables: Mapping[str, Any], defaults: Mapping[str, ValueNode | None]
) -> int | None:
    """An Int argument's value, if it is a literal or a variable holding an integer."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            value = variables[name]
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(CEILING, value))
            return None
        node = defaults.get(name)
    if isinstance(node, IntValueNode):
        digits = node.value.lstrip("-")
        if len(digits) > 15:
            return 0 if node.value.startswith("-") else CEILING
        return max(0, min(CEILING, int(node.value)))
    return None


def estimate_nodes(
    document: DocumentNode,
    schema: GraphQLSchema,
    *,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The objects the operation may return at most (see the module's docstring)."""
    operation = select_operation(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    values = variables or {}
    defaults = {
        definition.variable.name.value: definition.default_value
        for definition in operation.variable_definitions or ()
    }
    fragments = _fragments(document)
    memo: dict[tuple[str, int | None], int] = {}
    open_: set[str] = set()

    def page_of(node: FieldNode, definition: Any) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value in _PAGE_ARGUMENTS:
                value = _int(argument.value, values, defaults)
                if value is not None:
                    return value
        if definition is not None and any(name in definition.args for name in _PAGE_ARGUMENTS):
            for name in _PAGE_ARGUMENTS:
                argument = definition.args.get(name)
                if argument is not None and isinstance(argument.default_value, int):
                    return max(0, min(CEILING, argument.default_value))
            return DEFAULT_PAGE
        return None

    def of_set(
        selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None, page: int | None
    ) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if selection.selection_set is None:
                    continue  # a scalar: free
                fields = getattr(parent, "fields", None)
                definition = fields.get(selection.name.value) if fields else None
                own_page = page_of(selection, definition)
                nullable = get_nullable_type(definition.type) if definition else None
                is_list = isinstance(nullable, GraphQLList)
                child = get_named_type(definition.type) if definition else None
                if is_list:
                    count = (
                        own_page
                        if own_page is not None
                        else (page if page is not None else DEFAULT_LIST)
                    )
                    inner = of_set(selection.selection_set, child, None)
                else:
                    count = 1
                    inner = of_set(selection.selection_set, child, own_page)
                total += count * (1 + inner)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = schema.get_type(condition.name.value) if condition else parent
                total += of_set(selection.selection_set, target, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += of_fragment(selection.name.value, page)
            total = min(CEILING, total)
        return total

    def of_fragment(name: str, page: int | None) -> int:
        key = (name, page)
        known = memo.get(key)
        if known is not None:
            return known
        definition = fragments.get(name)
        if definition is None or name in open_:
            return 0
        open_.add(name)
        try:
            nodes = of_set(
                definition.selection_set,
                schema.get_type(definition.type_condition.name.value),
                page,
            )
        finally:
            open_.discard(name)
        memo[key] = nodes
        return nodes

    return of_set(operation.selection_set, root, None)

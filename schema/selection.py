"""Whether a query asks for a field below the one being resolved, through fragments too.

A root field that knows its page's nodes will be asked for a relation (an offering's issuer
and totals) reads it for the whole page at once and hands the values to the nodes, so the
relation's fields resolve as plain values: no DataLoader future and no coroutine per node,
which graphql-core would otherwise schedule and gather (schema/offerings.py).

The question is answered on graphql-core's document itself (the field's nodes and the
operation's fragments): Strawberry's `Info.selected_fields` would first copy the whole
selection below the field into its own objects, arguments and directives converted, about a
hundred Python calls for an offering's detail, of which `selects` reads only the names.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from schema.context import Info


def selects(info: Info, *path: str) -> bool:
    """Whether the current field's selection reaches `path` (GraphQL names, e.g. "edges",
    "node", "issuer"). Directives are not evaluated: a field under `@skip` still counts,
    which costs at most a read nobody uses."""
    raw = info._raw_info
    fragments = raw.fragments
    # The current field may be named by several nodes (once per selection naming it).
    return any(_reaches(node.selection_set, path, fragments) for node in raw.field_nodes)


def _reaches(
    selection_set: SelectionSetNode | None,
    path: tuple[str, ...],
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == path[0] and (
                len(path) == 1 or _reaches(selection.selection_set, path[1:], fragments)
            ):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            if _reaches(fragments[selection.name.value].selection_set, path, fragments):
                return True
        elif isinstance(selection, InlineFragmentNode) and _reaches(
            selection.selection_set, path, fragments
        ):
            return True
    return False

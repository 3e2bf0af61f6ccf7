"""Whether a query asks for a field below the one being resolved, through fragments too.

A root field that knows its page's nodes will be asked for a relation (an offering's issuer
and totals) reads it for the whole page at once and hands the values to the nodes, so the
relation's fields resolve as plain values: no DataLoader future and no coroutine per node,
which graphql-core would otherwise schedule and gather (schema/offerings.py).
"""

from __future__ import annotations

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from schema.context import Info


def selects(info: Info, *path: str) -> bool:
    """Whether the current field's selection reaches `path` (GraphQL names, e.g. "edges",
    "node", "issuer"). Directives are not evaluated: a field under `@skip` still counts,
    which costs at most a read nobody uses."""
    # `selected_fields` is the current field itself (once per node naming it); look below it.
    below = [
        selection
        for field in info.selected_fields
        if isinstance(field, SelectedField)
        for selection in field.selections
    ]
    return _reaches(below, path)


def _reaches(selections: list[Selection], path: tuple[str, ...]) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == path[0] and (
                len(path) == 1 or _reaches(selection.selections, path[1:])
            ):
                return True
        elif isinstance(selection, FragmentSpread | InlineFragment) and _reaches(
            selection.selections, path
        ):
            return True
    return False

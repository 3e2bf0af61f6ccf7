"""Relay-style connections, global ids and the `node(id)` query.

Global ids are base64 of "Type:dbid". Connections take `first`/`after` and `last`/`before`
(dpo.services.page_window): 20 items by default; above 100 is refused with code
LIMIT_EXCEEDED, `first` with `last` and a cursor that is not ours with VALIDATION.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any, Generic, TypeVar, cast

import strawberry

from dpo.errors import ValidationError
from dpo.inputs import parse_ascii_int
from dpo.services.pagination import Page
from schema.context import Info

T = TypeVar("T")
# Ours are under 40 characters; a longer one is refused before it is decoded.
MAX_GLOBAL_ID_LENGTH = 200
NodeResolver = Callable[[Info, int], Awaitable[Any]]


def to_global_id(type_name: str, db_id: int) -> strawberry.ID:
    """The opaque global id of a row."""
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{db_id}".encode()).decode())


def from_global_id(
    global_id: str, *, expect: str | None = None, field: str = "id"
) -> tuple[str, int]:
    """(type name, database id) of a global id; ValidationError if malformed or of another type.

    The id must be ours exactly: ASCII digits, 1 to 2**63 - 1 (PostgreSQL's BIGINT), so a
    forged one is refused here and never reaches the database.
    """
    try:
        if len(global_id) > MAX_GLOBAL_ID_LENGTH:
            raise ValueError("too long")
        type_name, _, raw = base64.urlsafe_b64decode(global_id.encode()).decode().partition(":")
        db_id = parse_ascii_int(raw)
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError(f"{field} is not a valid id", field=field) from None
    if not type_name or db_id <= 0 or (expect is not None and type_name != expect):
        raise ValidationError(f"{field} is not a valid {expect or 'node'} id", field=field)
    return type_name, db_id


@strawberry.enum(description="Ascending or descending.")
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.interface(description="An object with a global id.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Where a page starts and ends.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def _total_count(root: Any) -> int:
    # Counted only when asked for: the count is the most expensive part of a page. A plain
    # function: a count already known (positions sum their groups) is returned as is, with no
    # coroutine to schedule; a query's awaitable is awaited by graphql-core (hence the cast).
    return cast(int, root.count_total())


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count_total: strawberry.Private[Callable[[], Awaitable[int] | int]]
    total_count: int = strawberry.field(
        resolver=_total_count, description="How many nodes match, over all pages."
    )


def connection_of(
    page: Page, nodes: list[T], count_total: Callable[[], Awaitable[int] | int]
) -> Connection[T]:
    """A connection from a service page and the mapped nodes, in the same order."""
    edges = [Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)]
    info = PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
    )
    return Connection(edges=edges, page_info=info, count_total=count_total)


def node_query(resolvers: Mapping[str, NodeResolver]) -> type:
    """The `node(id)` root field, loading each type name through its resolver.

    Which types `node` knows is decided where the schema is composed (app.graphql.schema);
    each resolver enforces its own permissions.
    """
    known = dict(resolvers)

    async def resolve_node(info: Info, id: strawberry.ID) -> Node | None:
        """Any node by global id; null when unknown or not visible to the caller."""
        type_name, db_id = from_global_id(id)
        resolver = known.get(type_name)
        if resolver is None:
            return None
        node: Node | None = await resolver(info, db_id)
        return node

    @strawberry.type
    class NodeQuery:
        node: Node | None = strawberry.field(
            resolver=resolve_node, description="Any object by its global id."
        )

    return NodeQuery

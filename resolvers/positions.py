"""The positions query: holdings with totals per location."""

from __future__ import annotations

import strawberry

from dpo.errors import DomainError
from dpo.services import positions
from schema.context import Info
from schema.enums import Location
from schema.positions import LocationTotal, Position, PositionConnection
from schema.relay import Edge, PageInfo, from_global_id
from schema.scalars import Address, BigInt


async def resolve_position_node(info: Info, db_id: int) -> Position | None:
    """`node(id)` for positions: null when unknown or not visible."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await positions.get_position(
                session, principal=info.context.principal, position_id=db_id
            )
        except DomainError:
            return None
        return Position.from_row(row)


async def resolve_positions(
    info: Info,
    holder: Address | None = None,
    offering_id: strawberry.ID | None = None,
    location: Location | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PositionConnection:
    offering = (
        None
        if offering_id is None
        else from_global_id(offering_id, expect="Offering", field="offeringId")[1]
    )
    # Raw reads only: a pooled connection without a session (dpo.db.pooled_reads).
    async with info.context.runtime.read_connections() as reads:
        listed = await positions.list_positions(
            reads,
            principal=info.context.principal,
            holder=holder,
            offering_id=offering,
            location=location,
            first=first,
            after=after,
            last=last,
            before=before,
        )
    page = listed.page
    totals = [
        LocationTotal(location=Location(name), quantity=BigInt(quantity))
        for name, quantity in sorted(listed.totals.items())
    ]
    # Every matching position sits at one location, so the count is the sum of the groups.
    matching = sum(listed.counts.values())

    def total() -> int:
        return matching

    return PositionConnection(
        edges=[
            Edge(cursor=c, node=Position.from_row(r))
            for c, r in zip(page.cursors, page.rows, strict=True)
        ],
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        count_total=total,
        totals=totals,
    )


@strawberry.type
class PositionQuery:
    positions: PositionConnection = strawberry.field(
        resolver=resolve_positions,
        description="Positions you may see, with the totals per location over all pages.",
    )

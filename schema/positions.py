"""Position types: holdings per location, with totals."""

from __future__ import annotations

import datetime as dt

import strawberry

from schema.context import Info
from schema.enums import Location
from schema.offerings import Offering, offering_node
from schema.relay import Connection, Node
from schema.scalars import Address, BigInt


async def _offering(root: Position, info: Info) -> Offering:
    row = await info.context.loaders.offering.load(root.offering_db_id)
    if row is None:  # the foreign key forbids it
        raise LookupError(f"offering {root.offering_db_id} of a position is missing")
    return offering_node(row)


@strawberry.type(description="A holding of one instrument at one location.")
class Position(Node):
    id: strawberry.ID
    holder: Address
    offering_id: strawberry.ID
    location: Location
    quantity: BigInt
    frozen_quantity: BigInt
    as_of_block: BigInt | None
    as_of_time: dt.datetime
    offering_db_id: strawberry.Private[int]
    offering: Offering = strawberry.field(resolver=_offering,
                                              description="The instrument held.")


@strawberry.type(description="The summed quantity at one location over every matching position.")
class LocationTotal:
    location: Location
    quantity: BigInt


@strawberry.type(description="A page of positions and the totals per location over all pages.")
class PositionConnection(Connection[Position]):
    totals: list[LocationTotal]

"""Position types: holdings per location, with totals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import Row

from dpo.db.models import Position as PositionRow
from schema.context import Info
from schema.enums import Location
from schema.offerings import Offering
from schema.relay import Connection, Node, to_global_id
from schema.scalars import Address, BigInt


async def _offering(root: Position, info: Info) -> Offering:
    row = await info.context.loaders.offering.load(root.offering_db_id)
    if row is None:  # the foreign key forbids it
        raise LookupError(f"offering {root.offering_db_id} of a position is missing")
    return Offering.from_row(row)


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
    offering: Offering = strawberry.field(resolver=_offering, description="The instrument held.")

    @classmethod
    def from_row(cls, row: PositionRow | Row[Any]) -> Position:
        """The API view of a position."""
        return cls(
            id=to_global_id("Position", row.id),
            holder=Address(row.holder_address),
            offering_id=to_global_id("Offering", row.offering_id),
            location=Location(row.location),
            quantity=BigInt(row.quantity),
            frozen_quantity=BigInt(row.frozen_quantity),
            as_of_block=BigInt(row.as_of_block) if row.as_of_block is not None else None,
            as_of_time=row.as_of_time,
            offering_db_id=row.offering_id,
        )


@strawberry.type(description="The summed quantity at one location over every matching position.")
class LocationTotal:
    location: Location
    quantity: BigInt


@strawberry.type(description="A page of positions and the totals per location over all pages.")
class PositionConnection(Connection[Position]):
    totals: list[LocationTotal]

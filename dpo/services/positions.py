"""Positions: holdings per (holder, instrument, location), with totals per location."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db import raw_reads
from dpo.db.models import InvestorWallet, Offering, Position
from dpo.db.models.enums import Location, Role
from dpo.errors import ForbiddenError, NotFoundError
from dpo.services.pagination import Ordering, Page, SortKey, paginate
from dpo.services.policy import STAFF_READERS, require_authenticated

logger = logging.getLogger(__name__)


# Conditions and pages on the table's own columns: a page is a Core select, which skips the
# ORM's compile and load steps entirely (docs/ARCHITECTURE.md, the read path).
POSITIONS = Position.__table__
WALLETS = InvestorWallet.__table__
BY_ID = Ordering("positions_by_id", (SortKey(POSITIONS.c.id),))


@dataclass(frozen=True)
class PositionList:
    """A page of positions and the quantity totals per location over the whole filter."""

    page: Page
    totals: dict[str, int]
    counts: dict[str, int]

    @property
    def positions(self) -> list[Row[Any]]:
        """The page's rows: rows of the positions table (their columns by name)."""
        return list(self.page.rows)


def _visible(principal: Principal) -> Any:
    """The WHERE clause limiting positions to what the caller may see; None for staff."""
    if principal.role in STAFF_READERS:
        return None
    if principal.role == Role.ISSUER.value and principal.issuer_id is not None:
        offerings = Offering.__table__
        return POSITIONS.c.offering_id.in_(
            select(offerings.c.id).where(offerings.c.issuer_id == principal.issuer_id)
        )
    if principal.investor_id is not None:
        own_wallets = select(func.lower(WALLETS.c.address)).where(
            WALLETS.c.investor_id == principal.investor_id
        )
        return or_(
            POSITIONS.c.investor_id == principal.investor_id,
            func.lower(POSITIONS.c.holder_address).in_(own_wallets),
        )
    raise ForbiddenError("you may not see positions", reason="not_allowed")


async def get_position(
    session: AsyncSession, *, principal: Principal, position_id: int
) -> Position:
    """One position the caller may see."""
    require_authenticated(principal)
    query = select(Position).where(Position.id == position_id)
    clause = _visible(principal)
    if clause is not None:
        query = query.where(clause)
    position = await session.scalar(query)
    if position is None:
        if clause is None:
            raise NotFoundError("no such position", id=position_id)
        raise ForbiddenError("you may not see this position", reason="not_yours")
    return position


async def _check_holder(session: AsyncSession, principal: Principal, holder: str) -> None:
    """Refuse an investor asking for an address that is not one of their wallets."""
    if principal.role in STAFF_READERS or principal.role == Role.ISSUER.value:
        return
    own = await raw_reads.scalar(
        session,
        select(WALLETS.c.id).where(
            WALLETS.c.investor_id == principal.investor_id,
            func.lower(WALLETS.c.address) == holder.lower(),
        ),
    )
    if own is None:
        raise ForbiddenError("you may only see your own wallets' positions", reason="not_yours")


async def list_positions(
    session: AsyncSession,
    *,
    principal: Principal,
    holder: str | None = None,
    offering_id: int | None = None,
    location: Location | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PositionList:
    """The positions the caller may see under the filters, and their totals per location."""
    require_authenticated(principal)
    conditions: list[Any] = []
    clause = _visible(principal)
    if clause is not None:
        conditions.append(clause)
    if holder is not None:
        await _check_holder(session, principal, holder)
        conditions.append(func.lower(POSITIONS.c.holder_address) == holder.lower())
    if offering_id is not None:
        conditions.append(POSITIONS.c.offering_id == offering_id)
    if location is not None:
        conditions.append(POSITIONS.c.location == location.value)
    groups = (
        select(
            POSITIONS.c.location,
            func.sum(POSITIONS.c.quantity).label("quantity"),
            func.count().label("count"),
        )
        .where(*conditions)
        .group_by(POSITIONS.c.location)
    )
    # The totals ride on the page's own statement as one uncorrelated column (computed once,
    # JSON text of [location, quantity, count] triples): one round trip, not two. An empty
    # page, with no row to carry them, asks on its own.
    grouped = groups.subquery()
    totals_column = (
        select(
            cast(
                func.json_agg(
                    func.json_build_array(grouped.c.location, grouped.c.quantity, grouped.c.count)
                ),
                Text,
            )
        )
        .scalar_subquery()
        .label("_totals")
    )
    page = await paginate(
        session,
        select(POSITIONS, totals_column).where(*conditions),
        ordering=BY_ID,
        as_rows=True,
        first=first,
        after=after,
        last=last,
        before=before,
    )
    if page.rows:
        text = page.rows[0]._mapping["_totals"]
        # Quantities are exact integers (NUMERIC(78,0)); never read through a float.
        triples = [] if text is None else json.loads(text, parse_float=Decimal)
    else:
        triples = [list(row) for row in await raw_reads.fetch(session, groups)]
    return PositionList(
        page=page,
        totals={str(name): int(quantity) for name, quantity, _ in triples},
        counts={str(name): int(count) for name, _, count in triples},
    )

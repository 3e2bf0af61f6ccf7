"""Positions: holdings per (holder, instrument, location), with totals per location."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    Text,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db import raw_reads
from dpo.db.models import InvestorWallet, Offering, Position
from dpo.db.models.enums import Location, Role
from dpo.errors import ForbiddenError, NotFoundError
from dpo.services.page_window import settle, window
from dpo.services.pagination import Ordering, Page, SortKey, decode_cursor, encode_cursor
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


def _visibility(principal: Principal) -> tuple[str, dict[str, Any]]:
    """Which rule limits the positions the caller may see, and its values by name."""
    if principal.role in STAFF_READERS:
        return "staff", {}
    if principal.role == Role.ISSUER.value and principal.issuer_id is not None:
        return "issuer", {"own_issuer": principal.issuer_id}
    if principal.investor_id is not None:
        return "investor", {"own_investor": principal.investor_id}
    raise ForbiddenError("you may not see positions", reason="not_allowed")


def _visible_where(rule: str, values: dict[str, Any] | None = None) -> Any:
    """The WHERE clause of a rule, None for staff; its values bound here when given, else
    named parameters bound at each execution (dpo.db.raw_reads.fetch_fixed)."""

    def param(name: str) -> BindParameter[Any]:
        return bindparam(name) if values is None else bindparam(name, values[name])

    if rule == "staff":
        return None
    if rule == "issuer":
        offerings = Offering.__table__
        return POSITIONS.c.offering_id.in_(
            select(offerings.c.id).where(offerings.c.issuer_id == param("own_issuer"))
        )
    own_wallets = select(func.lower(WALLETS.c.address)).where(
        WALLETS.c.investor_id == param("own_investor")
    )
    return or_(
        POSITIONS.c.investor_id == param("own_investor"),
        func.lower(POSITIONS.c.holder_address).in_(own_wallets),
    )


def _visible(principal: Principal) -> Any:
    """The WHERE clause limiting positions to what the caller may see; None for staff."""
    return _visible_where(*_visibility(principal))


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


async def _check_holder(reads: raw_reads.Reads, principal: Principal, holder: str) -> None:
    """Refuse an investor asking for an address that is not one of their wallets."""
    if principal.role in STAFF_READERS or principal.role == Role.ISSUER.value:
        return
    own = await raw_reads.scalar(
        reads,
        select(WALLETS.c.id).where(
            WALLETS.c.investor_id == principal.investor_id,
            func.lower(WALLETS.c.address) == holder.lower(),
        ),
    )
    if own is None:
        raise ForbiddenError("you may only see your own wallets' positions", reason="not_yours")


async def list_positions(
    reads: raw_reads.Reads,
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
    """The positions the caller may see under the filters, and their totals per location.

    Keyset pages by id (as `paginate` over BY_ID reads them), each statement built once per
    shape (the visibility rule, which filters, which cursors) with every value a named
    parameter, and run on the driver connection (`raw_reads.fetch_fixed`).
    """
    require_authenticated(principal)
    rule, values = _visibility(principal)
    if holder is not None:
        await _check_holder(reads, principal, holder)
        values["holder"] = holder.lower()
    if offering_id is not None:
        values["offering"] = offering_id
    if location is not None:
        values["location"] = location.value
    win = window(first=first, after=after, last=last, before=before)
    if win.after is not None:
        values["after_id"] = decode_cursor(BY_ID, win.after)[0]
    if win.before is not None:
        values["before_id"] = decode_cursor(BY_ID, win.before, field="before")[0]
    values["size"] = win.size + 1
    filters = (rule, holder is not None, offering_id is not None, location is not None)
    shape = (filters, win.after is not None, win.before is not None, win.backward)
    rows = await raw_reads.fetch_fixed(
        reads, ("positions page", shape), lambda: _page_statement(*shape), values
    )
    beyond = False
    if win.reverse_side is not None:
        backward = win.backward
        found = await raw_reads.fetch_fixed(
            reads,
            ("positions beyond", filters, backward),
            lambda: select(exists().where(*_conditions(filters), _beyond(backward))),
            values,
        )
        beyond = bool(found[0][0])
    sliced = settle(win, rows, beyond=beyond)
    page = Page(
        rows=list(sliced.items),
        cursors=[encode_cursor(BY_ID.name, [row._k0]) for row in sliced.items],
        has_next_page=sliced.has_next_page,
        has_previous_page=sliced.has_previous_page,
    )
    if page.rows:
        text = page.rows[0]._mapping["_totals"]
        # Quantities are exact integers (NUMERIC(78,0)); never read through a float.
        triples = [] if text is None else json.loads(text, parse_float=Decimal)
    else:
        found = await raw_reads.fetch_fixed(
            reads, ("positions totals", filters), lambda: _groups(filters), values
        )
        triples = [list(row) for row in found]
    return PositionList(
        page=page,
        totals={str(name): int(quantity) for name, quantity, _ in triples},
        counts={str(name): int(count) for name, _, count in triples},
    )


def _conditions(filters: tuple[str, bool, bool, bool]) -> list[Any]:
    rule, holder, offering, location = filters
    conditions: list[Any] = []
    clause = _visible_where(rule)
    if clause is not None:
        conditions.append(clause)
    if holder:
        conditions.append(func.lower(POSITIONS.c.holder_address) == bindparam("holder"))
    if offering:
        conditions.append(POSITIONS.c.offering_id == bindparam("offering"))
    if location:
        conditions.append(POSITIONS.c.location == bindparam("location"))
    return conditions


def _groups(filters: tuple[str, bool, bool, bool]) -> Select[Any]:
    """Quantity and count per location over every page."""
    return (
        select(
            POSITIONS.c.location,
            func.sum(POSITIONS.c.quantity).label("quantity"),
            func.count().label("count"),
        )
        .where(*_conditions(filters))
        .group_by(POSITIONS.c.location)
    )


def _beyond(backward: bool) -> ColumnElement[bool]:
    """Positions on the far side of the window's reverse-side cursor (pageInfo)."""
    key = POSITIONS.c.id
    return key >= bindparam("before_id") if backward else key <= bindparam("after_id")


def _page_statement(
    filters: tuple[str, bool, bool, bool], after: bool, before: bool, backward: bool
) -> Select[Any]:
    key = POSITIONS.c.id
    # The totals ride on the page's own statement as one uncorrelated column (computed once,
    # JSON text of [location, quantity, count] triples): one round trip, not two. An empty
    # page, with no row to carry them, asks on its own.
    grouped = _groups(filters).subquery()
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
    statement = select(POSITIONS, totals_column, key.label("_k0")).where(*_conditions(filters))
    if after:
        statement = statement.where(key > bindparam("after_id"))
    if before:
        statement = statement.where(key < bindparam("before_id"))
    # A backward window reads from its end: the order flipped, turned back by `settle`.
    statement = statement.order_by(key.desc() if backward else key.asc())
    return statement.limit(bindparam("size", type_=Integer))

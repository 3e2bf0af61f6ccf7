"""Offerings as callers see them: visibility, filters, orderings, pages, totals.

Visibility: anonymous callers and investors see open offerings (investors also closed and
settled ones, where their positions live); issuer staff see their own plus open ones; admin
and ops see everything. An offering the caller may not see is reported as not found.
Changes (creation, edits, the life cycle) are dpo.services.offering_changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    Select,
    any_,
    bindparam,
    distinct,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import Investment, Issuer, Offering
from dpo.db.models.enums import InvestmentState, OfferingStatus
from dpo.errors import NotFoundError, ValidationError
from dpo.services import policy
from dpo.services.pagination import Ordering, Page, SortKey, count

COMMITTED_STATES = (InvestmentState.PENDING_PAYMENT, InvestmentState.PAID, InvestmentState.ISSUED)
INVESTOR_STATUSES = (OfferingStatus.OPEN, OfferingStatus.CLOSED, OfferingStatus.SETTLED)
OFFERINGS = Offering.__table__


class OfferingSort(StrEnum):
    """The orders a list of offerings can come in."""

    CREATED_AT = "created_at"
    OPENS_AT = "opens_at"
    NAME = "name"


@dataclass(frozen=True)
class OfferingFilter:
    """Conditions that all must hold; None means any."""

    status: str | None = None
    issuer_id: int | None = None
    regulation: str | None = None
    currency: str | None = None
    search: str | None = None
    token_address: str | None = None
    onchain_offering_id: int | None = None


@dataclass(frozen=True)
class OfferingTotals:
    """What investors have committed to one offering."""

    investments_count: int
    investors_count: int
    amount_committed: Decimal


def ordering(sort: OfferingSort, *, descending: bool) -> Ordering:
    """The keyset ordering for a sort, the id breaking ties."""
    columns: dict[OfferingSort, ColumnElement[Any]] = {
        OfferingSort.CREATED_AT: Offering.created_at.expression,
        OfferingSort.OPENS_AT: Offering.opens_at.expression,
        OfferingSort.NAME: Offering.name.expression,
    }
    column = columns[sort]
    return Ordering(
        name=f"offering:{sort.value}:{'desc' if descending else 'asc'}",
        keys=(
            SortKey(column, descending, nullable=sort is OfferingSort.OPENS_AT),
            SortKey(Offering.id.expression, descending),
        ),
    )


def visibility(principal: Principal) -> tuple[str, dict[str, Any]]:
    """Which rule of visibility applies to the caller (see the module's docstring), and the
    values of its parameters by name (`visible_where` uses them)."""
    if policy.can_read_everything(principal):
        return "everything", {}
    if policy.has_role(principal, policy.ISSUER) and principal.issuer_id is not None:
        return "issuer", {"open": OfferingStatus.OPEN, "own_issuer": principal.issuer_id}
    if policy.has_role(principal, policy.INVESTOR):
        return "investor", {"investor_statuses": list(INVESTOR_STATUSES)}
    return "public", {"open": OfferingStatus.OPEN}


def visible_where(rule: str, values: dict[str, Any] | None = None) -> ColumnElement[bool]:
    """The condition of a visibility rule, its values named parameters: bound here when
    `values` are given, else at each execution, so one statement serves every caller under
    the rule (dpo.db.raw_reads.fetch_fixed)."""

    def param(name: str, **kw: Any) -> BindParameter[Any]:
        return bindparam(name, **kw) if values is None else bindparam(name, values[name], **kw)

    status = OFFERINGS.c.status
    if rule == "everything":
        return true()
    if rule == "issuer":
        return or_(status == param("open"), OFFERINGS.c.issuer_id == param("own_issuer"))
    if rule == "investor":
        return status == any_(param("investor_statuses", type_=ARRAY(status.type)))
    return status == param("open")


def visible(principal: Principal) -> ColumnElement[bool]:
    """The condition selecting the offerings the caller may see."""
    return visible_where(*visibility(principal))


def search_pattern(search: str) -> str:
    """The ILIKE pattern of a search: the text anywhere, its wildcards taken literally."""
    escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped + "%"


def filtered(principal: Principal, where: OfferingFilter | None) -> Select[Any]:
    """The visible offerings matching a filter, unordered."""
    statement = select(Offering).where(visible(principal))
    if where is None:
        return statement
    if where.status is not None:
        statement = statement.where(Offering.status == where.status)
    if where.issuer_id is not None:
        statement = statement.where(Offering.issuer_id == where.issuer_id)
    if where.regulation is not None:
        statement = statement.where(Offering.regulation == where.regulation)
    if where.currency is not None:
        statement = statement.where(Offering.currency == where.currency)
    if where.token_address is not None:
        # Stored as the listener saw it; addresses compare without case.
        statement = statement.where(
            func.lower(Offering.token_address) == where.token_address.lower()
        )
    if where.onchain_offering_id is not None:
        statement = statement.where(Offering.onchain_offering_id == where.onchain_offering_id)
    if where.search:
        pattern = search_pattern(where.search)
        statement = statement.where(
            or_(
                Offering.name.ilike(pattern, escape="\\"), Offering.isin.ilike(pattern, escape="\\")
            )
        )
    return statement


def counted(page: Page) -> int | None:
    """The count a page read `with_count` carries; None when it has no row to carry it."""
    return int(page.rows[0]._mapping["_count"]) if page.rows else None


async def count_offerings(
    session: AsyncSession, *, principal: Principal, filter: OfferingFilter | None = None
) -> int:
    """How many offerings the caller may see match the filter."""
    return await count(session, filtered(principal, filter))


async def get_offering(
    session: AsyncSession, *, principal: Principal, id: int | None = None, isin: str | None = None
) -> Offering:
    """One offering by id or ISIN; NotFoundError if absent or hidden from the caller."""
    if (id is None) == (isin is None):
        raise ValidationError("give exactly one of id and isin", field="id")
    key = Offering.id == id if id is not None else Offering.isin == isin
    offering = await session.scalar(select(Offering).where(key, visible(principal)))
    if offering is None:
        raise NotFoundError("no such offering")
    return offering


async def list_issuers_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, Issuer]:
    """Issuers by id, for batch loading."""
    rows = await session.scalars(select(Issuer).where(Issuer.id.in_(ids)))
    return {issuer.id: issuer for issuer in rows}


async def list_offerings_by_ids(
    session: AsyncSession, *, ids: Sequence[int]
) -> dict[int, Offering]:
    """Offerings by id, for batch loading under records the caller may already see."""
    rows = await session.scalars(select(Offering).where(Offering.id.in_(ids)))
    return {offering.id: offering for offering in rows}


async def list_offering_totals(
    session: AsyncSession, *, offering_ids: Sequence[int]
) -> dict[int, OfferingTotals]:
    """Committed investments per offering in one statement; offerings with none get zeros."""
    statement = (
        select(
            Investment.offering_id,
            func.count(Investment.id),
            func.count(distinct(Investment.investor_id)),
            func.sum(Investment.amount),
        )
        .where(Investment.offering_id.in_(offering_ids), Investment.state.in_(COMMITTED_STATES))
        .group_by(Investment.offering_id)
    )
    found = {
        row[0]: OfferingTotals(int(row[1]), int(row[2]), Decimal(row[3] or 0))
        for row in await session.execute(statement)
    }
    empty = OfferingTotals(0, 0, Decimal(0))
    return {offering_id: found.get(offering_id, empty) for offering_id in offering_ids}

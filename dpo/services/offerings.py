"""Offerings: who may see them, their life cycle draft → open → closed → settled | cancelled.

Visibility: anonymous callers and investors see open offerings (investors also closed and
settled ones, where their positions live); issuer staff see their own plus open ones; admin
and ops see everything. An offering the caller may not see is reported as not found.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import Investment, Issuer, Offering
from dpo.db.models.enums import InvestmentState, OfferingStatus
from dpo.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from dpo.notifications import investors as notices
from dpo.services import audit, policy
from dpo.services.offering_rules import EDITABLE, check_offering
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate
from dpo.services.settlement import check_settlement

logger = logging.getLogger(__name__)

ENTITY = "offering"
COMMITTED_STATES = (InvestmentState.PENDING_PAYMENT, InvestmentState.PAID, InvestmentState.ISSUED)
INVESTOR_STATUSES = (OfferingStatus.OPEN, OfferingStatus.CLOSED, OfferingStatus.SETTLED)
TRANSITIONS: dict[str, frozenset[str]] = {
    OfferingStatus.DRAFT: frozenset({OfferingStatus.OPEN, OfferingStatus.CANCELLED}),
    OfferingStatus.OPEN: frozenset({OfferingStatus.CLOSED, OfferingStatus.CANCELLED}),
    OfferingStatus.CLOSED: frozenset({OfferingStatus.SETTLED, OfferingStatus.CANCELLED}),
    OfferingStatus.SETTLED: frozenset(),
    OfferingStatus.CANCELLED: frozenset(),
}


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
    return Ordering(name=f"offering:{sort.value}:{'desc' if descending else 'asc'}",
                    keys=(SortKey(column, descending, nullable=sort is OfferingSort.OPENS_AT),
                          SortKey(Offering.id.expression, descending)))


def visible(principal: Principal) -> ColumnElement[bool]:
    """The condition selecting the offerings the caller may see."""
    if policy.can_read_everything(principal):
        return true()
    if policy.has_role(principal, policy.ISSUER) and principal.issuer_id is not None:
        return or_(Offering.status == OfferingStatus.OPEN,
                   Offering.issuer_id == principal.issuer_id)
    if policy.has_role(principal, policy.INVESTOR):
        return Offering.status.in_(INVESTOR_STATUSES)
    return Offering.status == OfferingStatus.OPEN


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
        statement = statement.where(func.lower(Offering.token_address)
                                    == where.token_address.lower())
    if where.onchain_offering_id is not None:
        statement = statement.where(Offering.onchain_offering_id == where.onchain_offering_id)
    if where.search:
        pattern = "%" + where.search.strip().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        statement = statement.where(or_(Offering.name.ilike(pattern, escape="\\"),
                                        Offering.isin.ilike(pattern, escape="\\")))
    return statement


async def list_offerings(session: AsyncSession, *, principal: Principal,
                         filter: OfferingFilter | None = None,
                         order_by: OfferingSort = OfferingSort.CREATED_AT,
                         descending: bool = False, first: int | None = None,
                         after: str | None = None, last: int | None = None,
                         before: str | None = None) -> Page:
    """One page of the offerings the caller may see."""
    statement = filtered(principal, filter)
    return await paginate(session, statement, ordering=ordering(order_by, descending=descending),
                          first=first, after=after, last=last, before=before)


async def count_offerings(session: AsyncSession, *, principal: Principal,
                          filter: OfferingFilter | None = None
                          ) -> int:
    """How many offerings the caller may see match the filter."""
    return await count(session, filtered(principal, filter))


async def get_offering(session: AsyncSession, *, principal: Principal, id: int | None = None,
                       isin: str | None = None) -> Offering:
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


async def list_offerings_by_ids(session: AsyncSession, *, ids: Sequence[int]
                                ) -> dict[int, Offering]:
    """Offerings by id, for batch loading under records the caller may already see."""
    rows = await session.scalars(select(Offering).where(Offering.id.in_(ids)))
    return {offering.id: offering for offering in rows}


async def list_offering_totals(session: AsyncSession, *, offering_ids: Sequence[int]
                               ) -> dict[int, OfferingTotals]:
    """Committed investments per offering in one statement; offerings with none get zeros."""
    statement = (
        select(Investment.offering_id, func.count(Investment.id),
               func.count(distinct(Investment.investor_id)), func.sum(Investment.amount))
        .where(Investment.offering_id.in_(offering_ids),
               Investment.state.in_(COMMITTED_STATES))
        .group_by(Investment.offering_id)
    )
    found = {row[0]: OfferingTotals(int(row[1]), int(row[2]), Decimal(row[3] or 0))
             for row in await session.execute(statement)}
    empty = OfferingTotals(0, 0, Decimal(0))
    return {offering_id: found.get(offering_id, empty) for offering_id in offering_ids}


async def _ensure_isin_free(session: AsyncSession, isin: str, *, except_id: int | None) -> None:
    taken = await session.scalar(select(Offering.id).where(Offering.isin == isin))
    if taken is not None and taken != except_id:
        raise ConflictError("an offering with this ISIN exists", field="isin")


async def _flush_unique_isin(session: AsyncSession) -> None:
    # A concurrent request may take the ISIN between our check and the insert.
    try:
        await session.flush()
    except IntegrityError as error:
        if "uq_offerings_isin" not in str(error.orig):
            raise
        raise ConflictError("an offering with this ISIN exists", field="isin") from None


async def create_offering(session: AsyncSession, *, principal: Principal, issuer_id: int,
                          fields: Mapping[str, Any], request_id: str | None = None) -> Offering:
    """A new draft offering of an issuer; admin or that issuer's staff."""
    policy.require_role(principal, policy.ADMIN, policy.ISSUER)
    if not policy.is_admin(principal) and not policy.is_issuer_staff_of(principal, issuer_id):
        raise ForbiddenError("you may only create offerings for your own issuer")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} cannot be set", field=sorted(unknown)[0])
    values = {name: fields.get(name) for name in EDITABLE}
    values["allowed_countries"] = list(values["allowed_countries"] or [])
    check_offering(values)
    if await session.get(Issuer, issuer_id) is None:
        raise ValidationError("no such issuer", field="issuer_id")
    if values["isin"] is not None:
        await _ensure_isin_free(session, str(values["isin"]), except_id=None)
    offering = Offering(issuer_id=issuer_id, status=OfferingStatus.DRAFT.value, **values)
    session.add(offering)
    await _flush_unique_isin(session)
    await session.refresh(offering)
    await audit.record(session, principal=principal, action="offering.create",
                       entity_type=ENTITY, entity_id=offering.id, before=None,
                       after=audit.snapshot(offering), request_id=request_id)
    return offering


async def _managed(session: AsyncSession, principal: Principal, offering_id: int) -> Offering:
    """The offering, locked, if the caller may change it; hidden ones are not found."""
    policy.require_role(principal, policy.ADMIN, policy.ISSUER)
    offering = await session.scalar(
        select(Offering).where(Offering.id == offering_id, visible(principal))
        .with_for_update())
    if offering is None:
        raise NotFoundError("no such offering")
    policy.require_manage_offering(principal, offering)
    return offering


async def update_offering(session: AsyncSession, *, principal: Principal, offering_id: int,
                          changes: Mapping[str, Any], request_id: str | None = None) -> Offering:
    """Change a draft's fields; ConflictError once it has left draft."""
    offering = await _managed(session, principal, offering_id)
    if offering.status != OfferingStatus.DRAFT:
        raise ConflictError("only a draft offering can be edited", status=offering.status)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} cannot be set", field=sorted(unknown)[0])
    before = audit.snapshot(offering)
    values = {name: getattr(offering, name) for name in EDITABLE}
    values.update(changes)
    if values["allowed_countries"] is None:
        values["allowed_countries"] = []
    check_offering(values)
    if changes.get("isin") is not None:
        await _ensure_isin_free(session, values["isin"], except_id=offering.id)
    for name in changes:
        setattr(offering, name, values[name])
    await _flush_unique_isin(session)
    await session.refresh(offering)
    await audit.record(session, principal=principal, action="offering.update",
                       entity_type=ENTITY, entity_id=offering.id, before=before,
                       after=audit.snapshot(offering), request_id=request_id)
    return offering


async def _transition(session: AsyncSession, *, principal: Principal, offering_id: int,
                      to: OfferingStatus, request_id: str | None) -> Offering:
    offering = await _managed(session, principal, offering_id)
    if to not in TRANSITIONS[offering.status]:
        raise ConflictError(f"a {offering.status} offering cannot become {to.value}",
                            status=offering.status)
    if to is OfferingStatus.SETTLED:
        await check_settlement(session, offering)
    required = ("isin", "opens_at", "closes_at", "hard_cap")
    if to is OfferingStatus.OPEN and any(getattr(offering, n) is None for n in required):
        missing = next(n for n in required if getattr(offering, n) is None)
        raise ValidationError(f"{missing} must be set before opening", field=missing)
    before = audit.snapshot(offering)
    offering.status = to.value
    await session.flush()
    await session.refresh(offering)
    await audit.record(session, principal=principal, action=f"offering.{to.value}",
                       entity_type=ENTITY, entity_id=offering.id, before=before,
                       after=audit.snapshot(offering), request_id=request_id)
    if to is OfferingStatus.CLOSED:
        await notices.offering_closed(session, offering_id=offering.id)
    return offering


async def open_offering(session: AsyncSession, *, principal: Principal, offering_id: int,
                        request_id: str | None = None) -> Offering:
    """Draft → open, once its window and hard cap are set."""
    return await _transition(session, principal=principal, offering_id=offering_id,
                             to=OfferingStatus.OPEN, request_id=request_id)


async def close_offering(session: AsyncSession, *, principal: Principal, offering_id: int,
                         request_id: str | None = None) -> Offering:
    """Open → closed: no more subscriptions."""
    return await _transition(session, principal=principal, offering_id=offering_id,
                             to=OfferingStatus.CLOSED, request_id=request_id)


async def cancel_offering(session: AsyncSession, *, principal: Principal, offering_id: int,
                          request_id: str | None = None) -> Offering:
    """Draft, open or closed → cancelled."""
    return await _transition(session, principal=principal, offering_id=offering_id,
                             to=OfferingStatus.CANCELLED, request_id=request_id)


async def settle_offering(session: AsyncSession, *, principal: Principal, offering_id: int,
                          request_id: str | None = None) -> Offering:
    """Closed → settled, once every order it kept is matched to on-chain issuance."""
    return await _transition(session, principal=principal, offering_id=offering_id,
                             to=OfferingStatus.SETTLED, request_id=request_id)

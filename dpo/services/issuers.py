"""Issuers: who may know of them, and their offerings page by page for many issuers at once.

Visibility follows the offerings' (dpo.services.offerings): admin and ops see every issuer;
issuer staff see their own issuer and any issuer with an offering they may see (an open
one); investors and anonymous callers see the issuers with an offering they may see (open,
and for investors also closed or settled). A hidden issuer is reported as not found, and
an issuer's offerings are filtered exactly as the `offerings` query filters them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import Issuer, Offering
from dpo.errors import NotFoundError
from dpo.services import policy
from dpo.services.offerings import OfferingFilter, OfferingSort, filtered, ordering, visible
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate, paginate_groups

logger = logging.getLogger(__name__)

ISSUER_ORDERING = Ordering(
    name="issuer:name:asc", keys=(SortKey(Issuer.name.expression), SortKey(Issuer.id.expression))
)


@dataclass(frozen=True)
class OfferingPageSpec:
    """The arguments of one `Issuer.offerings` page; equal specs batch into one statement."""

    status: str | None = None
    order_by: OfferingSort = OfferingSort.CREATED_AT
    descending: bool = False
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def visible_issuers(principal: Principal) -> ColumnElement[bool]:
    """The condition selecting the issuers the caller may know of."""
    if policy.can_read_everything(principal):
        return true()
    shown = exists().where(Offering.issuer_id == Issuer.id, visible(principal))
    if policy.has_role(principal, policy.ISSUER) and principal.issuer_id is not None:
        return or_(Issuer.id == principal.issuer_id, shown)
    return shown


def _issuers(principal: Principal, search: str | None) -> Select[Any]:
    statement = select(Issuer).where(visible_issuers(principal))
    if search:
        pattern = (
            "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        statement = statement.where(Issuer.name.ilike(pattern, escape="\\"))
    return statement


async def list_issuers(
    session: AsyncSession,
    *,
    principal: Principal,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """One page of the issuers the caller may know of, by name."""
    return await paginate(
        session,
        _issuers(principal, search),
        ordering=ISSUER_ORDERING,
        first=first,
        after=after,
        last=last,
        before=before,
    )


async def count_issuers(
    session: AsyncSession, *, principal: Principal, search: str | None = None
) -> int:
    """How many issuers the caller may know of match."""
    return await count(session, _issuers(principal, search))


async def get_issuer(session: AsyncSession, *, principal: Principal, issuer_id: int) -> Issuer:
    """One issuer; NotFoundError if absent or hidden from the caller."""
    issuer = await session.scalar(
        select(Issuer).where(Issuer.id == issuer_id, visible_issuers(principal))
    )
    if issuer is None:
        raise NotFoundError("no such issuer")
    return issuer


async def list_offering_pages(
    session: AsyncSession,
    *,
    principal: Principal,
    issuer_ids: Sequence[int],
    spec: OfferingPageSpec,
) -> dict[int, Page]:
    """A page of visible offerings per issuer, in one statement."""
    statement = filtered(principal, OfferingFilter(status=spec.status))
    return await paginate_groups(
        session,
        statement,
        group=Offering.issuer_id.expression,
        group_ids=issuer_ids,
        ordering=ordering(spec.order_by, descending=spec.descending),
        first=spec.first,
        after=spec.after,
        last=spec.last,
        before=spec.before,
    )


async def count_offerings_by_issuer(
    session: AsyncSession, *, principal: Principal, issuer_ids: Sequence[int], status: str | None
) -> dict[int, int]:
    """How many visible offerings each issuer has, in one statement."""
    statement = (
        select(Offering.issuer_id, func.count(Offering.id))
        .where(Offering.issuer_id.in_(issuer_ids), visible(principal))
        .group_by(Offering.issuer_id)
    )
    if status is not None:
        statement = statement.where(Offering.status == status)
    found = {int(row[0]): int(row[1]) for row in await session.execute(statement)}
    return {issuer_id: found.get(issuer_id, 0) for issuer_id in issuer_ids}

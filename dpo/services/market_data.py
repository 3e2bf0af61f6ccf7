"""Reads of what the outside world told us: Xetra prices and our ISIN requests to PMI.

- Instrument prices are market data, public as the FX rates are: anyone may read them,
  newest first, optionally for one ISIN.
- ISIN requests say how an offering's ISIN allocation at Clearstream PMI stands (pending,
  allocated, rejected with the desk's reason): ops and admins see all of them, an issuer's
  staff those of their own offerings, nobody else any.
"""

from __future__ import annotations

import re

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import InstrumentPrice, IsinRequest, Offering
from dpo.errors import ForbiddenError, NotFoundError, ValidationError
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate
from dpo.services.policy import ISSUER, STAFF_READERS, require_authenticated

_ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
STATUSES = ("pending", "allocated", "rejected")
PRICES_NEWEST_FIRST = Ordering(
    "prices_newest_first",
    (
        SortKey(InstrumentPrice.as_of.expression, descending=True),
        SortKey(InstrumentPrice.id.expression, descending=True),
    ),
)
REQUESTS_BY_ID = Ordering("isin_requests_by_id", (SortKey(IsinRequest.id.expression),))


def _prices(isin: str | None) -> Select[InstrumentPrice]:
    query = select(InstrumentPrice)
    if isin is not None:
        if not _ISIN.match(isin):
            raise ValidationError("not an ISIN", field="isin")
        query = query.where(InstrumentPrice.isin == isin)
    return query


async def list_prices(
    session: AsyncSession,
    *,
    isin: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """Instrument prices, newest first (public)."""
    return await paginate(
        session,
        _prices(isin),
        ordering=PRICES_NEWEST_FIRST,
        first=first,
        after=after,
        last=last,
        before=before,
    )


async def count_prices(session: AsyncSession, *, isin: str | None = None) -> int:
    """How many prices list_prices pages through."""
    return await count(session, _prices(isin))


def _requests(principal: Principal, status: str | None) -> Select[IsinRequest]:
    require_authenticated(principal)
    query = select(IsinRequest)
    if principal.role == ISSUER and principal.issuer_id is not None:
        query = query.join(Offering, Offering.id == IsinRequest.offering_id).where(
            Offering.issuer_id == principal.issuer_id
        )
    elif principal.role not in STAFF_READERS:
        raise ForbiddenError("only ops, admins and the offering's issuer may see ISIN requests")
    if status is not None:
        if status not in STATUSES:
            raise ValidationError("not an ISIN request status", field="status")
        query = query.where(IsinRequest.status == status)
    return query


async def list_isin_requests(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """ISIN requests in id order: all for ops and admins, their own offerings' for issuers."""
    return await paginate(
        session,
        _requests(principal, status),
        ordering=REQUESTS_BY_ID,
        first=first,
        after=after,
        last=last,
        before=before,
    )


async def count_isin_requests(
    session: AsyncSession, *, principal: Principal, status: str | None = None
) -> int:
    """How many requests list_isin_requests pages through."""
    return await count(session, _requests(principal, status))


async def get_isin_request(
    session: AsyncSession, *, principal: Principal, request_id: int
) -> IsinRequest:
    """One request the caller may see; NotFound otherwise (hidden ones included)."""
    row = await session.scalar(_requests(principal, None).where(IsinRequest.id == request_id))
    if row is None:
        raise NotFoundError("no such ISIN request", id=request_id)
    return row


async def get_price(session: AsyncSession, *, price_id: int) -> InstrumentPrice:
    """One price (public)."""
    row = await session.get(InstrumentPrice, price_id)
    if row is None:
        raise NotFoundError("no such price", id=price_id)
    return row

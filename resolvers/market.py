"""Instrument prices (public) and ISIN requests (ops, admin, the offering's issuer)."""

from __future__ import annotations

import strawberry

from dpo.db.models import InstrumentPrice as PriceRow
from dpo.db.models import IsinRequest as RequestRow
from dpo.errors import DomainError
from dpo.services import market_data
from schema.context import Info
from schema.market import InstrumentPrice, IsinRequest, IsinRequestStatus
from schema.relay import Connection, connection_of, register_node, to_global_id
from schema.scalars import ISIN, CurrencyCode


def price_node(row: PriceRow) -> InstrumentPrice:
    """The API view of a price."""
    return InstrumentPrice(id=to_global_id("InstrumentPrice", row.id), isin=ISIN(row.isin),
                           source=row.source, venue=row.venue,
                           currency=CurrencyCode(row.currency), price=row.price,
                           as_of=row.as_of, fetched_at=row.fetched_at)


def request_node(row: RequestRow) -> IsinRequest:
    """The API view of an ISIN request."""
    return IsinRequest(id=to_global_id("IsinRequest", row.id),
                       offering_id=to_global_id("Offering", row.offering_id),
                       request_ref=row.request_ref, status=IsinRequestStatus(row.status),
                       isin=ISIN(row.isin) if row.isin else None, reason=row.reason,
                       created_at=row.created_at, updated_at=row.updated_at)


async def resolve_price_node(info: Info, db_id: int) -> InstrumentPrice | None:
    """`node(id)` for prices."""
    async with info.context.runtime.sessions() as session:
        try:
            return price_node(await market_data.get_price(session, price_id=db_id))
        except DomainError:
            return None


async def resolve_request_node(info: Info, db_id: int) -> IsinRequest | None:
    """`node(id)` for ISIN requests: null when unknown or not visible."""
    async with info.context.runtime.sessions() as session:
        try:
            return request_node(await market_data.get_isin_request(
                session, principal=info.context.principal, request_id=db_id))
        except DomainError:
            return None


register_node("InstrumentPrice", resolve_price_node)
register_node("IsinRequest", resolve_request_node)


async def resolve_instrument_prices(info: Info, isin: ISIN | None = None,
                                    first: int | None = None, after: str | None = None,
                                    last: int | None = None, before: str | None = None
                                    ) -> Connection[InstrumentPrice]:
    sessions = info.context.runtime.sessions
    async with sessions() as session:
        page = await market_data.list_prices(session, isin=isin, first=first, after=after,
                                             last=last, before=before)

    async def total() -> int:
        async with sessions() as session:
            return await market_data.count_prices(session, isin=isin)

    return connection_of(page, [price_node(r) for r in page.rows], total)


async def resolve_isin_requests(info: Info, status: IsinRequestStatus | None = None,
                                first: int | None = None, after: str | None = None,
                                last: int | None = None, before: str | None = None
                                ) -> Connection[IsinRequest]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    wanted = status.value if status else None
    async with sessions() as session:
        page = await market_data.list_isin_requests(
            session, principal=principal, status=wanted, first=first, after=after, last=last,
            before=before)

    async def total() -> int:
        async with sessions() as session:
            return await market_data.count_isin_requests(session, principal=principal,
                                                         status=wanted)

    return connection_of(page, [request_node(r) for r in page.rows], total)


@strawberry.type
class MarketQuery:
    instrument_prices: Connection[InstrumentPrice] = strawberry.field(
        resolver=resolve_instrument_prices,
        description="Instrument prices (Xetra), newest first, optionally of one ISIN; public.")
    isin_requests: Connection[IsinRequest] = strawberry.field(
        resolver=resolve_isin_requests,
        description="ISIN requests to Clearstream PMI in id order: all for ops and admins, "
                    "their own offerings' for an issuer's staff.")

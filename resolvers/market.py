"""Instrument prices (public) and ISIN requests (ops, admin, the offering's issuer)."""

from __future__ import annotations

import strawberry

from dpo.errors import DomainError
from dpo.services import market_data
from schema.context import Info
from schema.enums import IsinRequestStatus
from schema.market import InstrumentPrice, IsinRequest
from schema.relay import Connection, connection_of
from schema.scalars import ISIN


async def resolve_price_node(info: Info, db_id: int) -> InstrumentPrice | None:
    """`node(id)` for prices."""
    async with info.context.runtime.sessions() as session:
        try:
            return InstrumentPrice.from_row(await market_data.get_price(session, price_id=db_id))
        except DomainError:
            return None


async def resolve_request_node(info: Info, db_id: int) -> IsinRequest | None:
    """`node(id)` for ISIN requests: null when unknown or not visible."""
    async with info.context.runtime.sessions() as session:
        try:
            return IsinRequest.from_row(
                await market_data.get_isin_request(
                    session, principal=info.context.principal, request_id=db_id
                )
            )
        except DomainError:
            return None


async def resolve_instrument_prices(
    info: Info,
    isin: ISIN | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[InstrumentPrice]:
    sessions = info.context.runtime.sessions
    async with sessions() as session:
        page = await market_data.list_prices(
            session, isin=isin, first=first, after=after, last=last, before=before
        )

    async def total() -> int:
        async with sessions() as session:
            return await market_data.count_prices(session, isin=isin)

    return connection_of(page, [InstrumentPrice.from_row(r) for r in page.rows], total)


async def resolve_isin_requests(
    info: Info,
    status: IsinRequestStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[IsinRequest]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    wanted = status.value if status else None
    async with sessions() as session:
        page = await market_data.list_isin_requests(
            session,
            principal=principal,
            status=wanted,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with sessions() as session:
            return await market_data.count_isin_requests(
                session, principal=principal, status=wanted
            )

    return connection_of(page, [IsinRequest.from_row(r) for r in page.rows], total)


@strawberry.type
class MarketQuery:
    instrument_prices: Connection[InstrumentPrice] = strawberry.field(
        resolver=resolve_instrument_prices,
        description="Instrument prices (Xetra), newest first, optionally of one ISIN; public.",
    )
    isin_requests: Connection[IsinRequest] = strawberry.field(
        resolver=resolve_isin_requests,
        description="ISIN requests to Clearstream PMI in id order: all for ops and admins, "
        "their own offerings' for an issuer's staff.",
    )

"""Market data and what Clearstream PMI answered: instrument prices and ISIN requests."""

from __future__ import annotations

import datetime as dt
import decimal

import strawberry

from dpo.db.models import InstrumentPrice as PriceRow
from dpo.db.models import IsinRequest as RequestRow
from schema.enums import IsinRequestStatus
from schema.relay import Node, to_global_id
from schema.scalars import ISIN, CurrencyCode


@strawberry.type(
    description="A price of an instrument at a time, from a market data source "
    "(Xetra), synced by sync_fx_rates."
)
class InstrumentPrice(Node):
    id: strawberry.ID
    isin: ISIN
    source: str
    venue: str = strawberry.field(description="The trading venue's MIC, e.g. XETR.")
    currency: CurrencyCode
    price: decimal.Decimal
    as_of: dt.datetime
    fetched_at: dt.datetime

    @classmethod
    def from_row(cls, row: PriceRow) -> InstrumentPrice:
        """The API view of a price."""
        return cls(
            id=to_global_id("InstrumentPrice", row.id),
            isin=ISIN(row.isin),
            source=row.source,
            venue=row.venue,
            currency=CurrencyCode(row.currency),
            price=row.price,
            as_of=row.as_of,
            fetched_at=row.fetched_at,
        )


@strawberry.type(
    description="Our request to Clearstream PMI for an offering's ISIN "
    "(sync_csd asks for every draft offering without one)."
)
class IsinRequest(Node):
    id: strawberry.ID
    offering_id: strawberry.ID
    request_ref: str = strawberry.field(description="What PMI de-duplicates on.")
    status: IsinRequestStatus
    isin: ISIN | None = strawberry.field(description="Set once allocated.")
    reason: str | None = strawberry.field(description="PMI's reason for a rejection.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: RequestRow) -> IsinRequest:
        """The API view of an ISIN request."""
        return cls(
            id=to_global_id("IsinRequest", row.id),
            offering_id=to_global_id("Offering", row.offering_id),
            request_ref=row.request_ref,
            status=IsinRequestStatus(row.status),
            isin=ISIN(row.isin) if row.isin else None,
            reason=row.reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

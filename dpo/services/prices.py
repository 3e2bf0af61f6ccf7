"""Instrument prices from Xetra (the second price source) for our offerings' ISINs.

Upserted by (isin, source, as_of): asking again before the next trade writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import InstrumentPrice, Offering
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError
from dpo.providers.xetra import XetraClient

SOURCE = "xetra"


@dataclass
class PriceSyncResult:
    """ISINs asked for, prices received, rows written; errors by provider."""

    asked: int = 0
    received: int = 0
    written: int = 0
    errors: dict[str, str] = field(default_factory=dict)


async def sync_prices(
    sessions: async_sessionmaker[AsyncSession], xetra: XetraClient
) -> PriceSyncResult:
    """Prices of every offering that has an ISIN (one transaction)."""
    result = PriceSyncResult()
    async with sessions() as session:
        isins = list(
            (
                await session.scalars(
                    select(Offering.isin).where(Offering.isin.is_not(None)).order_by(Offering.isin)
                )
            ).all()
        )
    result.asked = len(isins)
    if not isins:
        return result
    try:
        prices = await xetra.prices([isin for isin in isins if isin is not None])
    except ProviderError as error:
        result.errors[error.provider] = f"{error.code.value}: {error.message}"
        return result
    result.received = len(prices)
    if not prices:
        return result
    rows = {
        (p.isin, p.as_of): {
            "isin": p.isin,
            "source": SOURCE,
            "venue": p.venue,
            "currency": p.currency,
            "price": p.price,
            "as_of": p.as_of,
        }
        for p in prices
    }
    async with unit_of_work(sessions) as session:
        statement = insert(InstrumentPrice).values(list(rows.values()))
        upsert = statement.on_conflict_do_update(
            index_elements=[InstrumentPrice.isin, InstrumentPrice.source, InstrumentPrice.as_of],
            set_={
                "price": statement.excluded.price,
                "currency": statement.excluded.currency,
                "venue": statement.excluded.venue,
                "fetched_at": func.now(),
            },
            where=(InstrumentPrice.price != statement.excluded.price)
            | (InstrumentPrice.currency != statement.excluded.currency),
        ).returning(InstrumentPrice.id)
        result.written = len((await session.scalars(upsert)).all())
    return result

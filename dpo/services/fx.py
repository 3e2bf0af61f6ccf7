"""`sync_fx_rates`: the ECB's daily reference rates into `fx_rates`, cross rates derived.

The ECB publishes once per TARGET working day, so reading the feed again the same day, or
on a weekend (it still shows Friday), writes nothing: rows are upserted by
(base, quote, as_of, source) and only a changed rate is rewritten. Friday's rate keeps
Friday's date; `fxRates` flags a rate stale after 4 working days (dpo.services.fx_calendar).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import permutations
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import FxRate
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError
from dpo.providers.ecb import EcbClient, EcbDaily

logger = logging.getLogger(__name__)

SOURCE = "ecb"
QUANTUM = Decimal("1e-12")  # the column's scale (NUMERIC(24,12))
LIMIT = Decimal(10) ** 12  # the column's integer digits


@dataclass
class FxSyncResult:
    """What one run did: the fixing's date, rows written and left as they were, errors."""

    as_of: date | None = None
    currencies: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        """The job_runs.counts form."""
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "currencies": self.currencies,
            "written": self.written,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            **({"errors": self.errors} if self.errors else {}),
        }


def derive_pairs(daily: EcbDaily) -> tuple[dict[tuple[str, str], Decimal], int]:
    """Every ordered pair among EUR and the day's currencies, and how many could not be stored.

    1 EUR = r(X); so X→EUR = 1/r(X) and X→Y = r(Y)/r(X). Rounded to the column's 12 places;
    a pair that rounds to zero or overflows the column is skipped (counted), never stored wrong.
    """
    per_euro = {"EUR": Decimal(1), **daily.rates}
    pairs: dict[tuple[str, str], Decimal] = {}
    skipped = 0
    for base, quote in permutations(sorted(per_euro), 2):
        rate = (per_euro[quote] / per_euro[base]).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
        if Decimal(0) < rate < LIMIT:
            pairs[(base, quote)] = rate
        else:
            skipped += 1
    return pairs, skipped


async def upsert_rates(
    session: AsyncSession,
    as_of: date,
    pairs: dict[tuple[str, str], Decimal],
    *,
    source: str = SOURCE,
) -> int:
    """Insert new rows, rewrite changed ones; returns how many were written."""
    written = 0
    items = list(pairs.items())
    for start in range(0, len(items), 1000):
        rows = [
            {"base": b, "quote": q, "rate": r, "as_of": as_of, "source": source}
            for (b, q), r in items[start : start + 1000]
        ]
        statement = insert(FxRate).values(rows)
        upsert = statement.on_conflict_do_update(
            index_elements=[FxRate.base, FxRate.quote, FxRate.as_of, FxRate.source],
            set_={"rate": statement.excluded.rate, "fetched_at": func.now()},
            where=FxRate.rate != statement.excluded.rate,
        ).returning(FxRate.id)
        written += len((await session.scalars(upsert)).all())
    return written


async def sync_fx_rates(sessions: async_sessionmaker[AsyncSession], ecb: EcbClient) -> FxSyncResult:
    """Read the ECB feed and store the day's rates and cross rates (one transaction)."""
    result = FxSyncResult()
    try:
        daily = await ecb.daily()
    except ProviderError as error:
        result.errors[error.provider] = f"{error.code.value}: {error.message}"
        return result
    pairs, result.skipped = derive_pairs(daily)
    async with unit_of_work(sessions) as session:
        result.written = await upsert_rates(session, daily.as_of, pairs)
    result.as_of, result.currencies = daily.as_of, len(daily.rates)
    result.unchanged = len(pairs) - result.written
    logger.info(
        "fx rates of %s: %d written, %d unchanged, %d skipped",
        daily.as_of,
        result.written,
        result.unchanged,
        result.skipped,
    )
    return result

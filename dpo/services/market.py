"""Market data: the FX reference rates, public to everyone."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import FxRate
from dpo.errors import ValidationError

logger = logging.getLogger(__name__)

CURRENCY = re.compile(r"^[A-Z]{3}$")


def _currency(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if not CURRENCY.match(code):
        raise ValidationError("not an ISO 4217 currency code", field=field)
    return code


async def list_fx_rates(
    session: AsyncSession,
    *,
    base: str | None = None,
    quote: str | None = None,
    on: date | None = None,
) -> Sequence[FxRate]:
    """The rate in force on a day (latest if no day) per (base, quote, source).

    A day without a fixing (weekend, holiday) gets the last earlier one, as ECB users expect.
    """
    base, quote = _currency(base, "base"), _currency(quote, "quote")
    query = (
        select(FxRate)
        .ext(distinct_on(FxRate.base, FxRate.quote, FxRate.source))
        .order_by(FxRate.base, FxRate.quote, FxRate.source, FxRate.as_of.desc())
    )
    if base is not None:
        query = query.where(FxRate.base == base)
    if quote is not None:
        query = query.where(FxRate.quote == quote)
    if on is not None:
        query = query.where(FxRate.as_of <= on)
    return list((await session.scalars(query)).all())

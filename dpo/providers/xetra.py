"""Xetra instrument prices (Deutsche Börse market data), the second price source.

No public REST contract: the assumed JSON form is in docs/INTEGRATIONS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from dpo.providers.csd import Isin, _Strict
from dpo.providers.http import ProviderHttp
from dpo.providers.wire import decode

PROVIDER = "xetra"
BATCH = 50


class InstrumentPrice(_Strict):
    """The last traded (or closing) price of an instrument on Xetra."""

    isin: Isin
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    price: Decimal = Field(alias="last", gt=0, lt=Decimal(10) ** 15, allow_inf_nan=False)
    as_of: datetime = Field(alias="asOf")
    venue: Annotated[str, StringConstraints(max_length=8)] = "XETR"


class PricePage(_Strict):
    prices: list[InstrumentPrice] = Field(max_length=BATCH)


class XetraClient:
    """Reads instrument prices."""

    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    async def prices(self, isins: Sequence[str]) -> list[InstrumentPrice]:
        """Prices of the ISINs Xetra quotes (the others are simply absent)."""
        found: list[InstrumentPrice] = []
        for start in range(0, len(isins), BATCH):
            batch = list(isins[start : start + BATCH])
            page = await self.http.call(
                "GET",
                "v1/instruments/prices",
                lambda response, body: decode(PROVIDER, PricePage, body),
                params={"isin": ",".join(batch)},
            )
            found.extend(price for price in page.prices if price.isin in batch)
        return found

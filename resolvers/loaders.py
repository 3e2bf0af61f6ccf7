"""Per-request DataLoaders: one SQL statement per kind of thing a page needs, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from dpo.db.models import Issuer, Offering
from dpo.services import investors, offerings
from dpo.services.offerings import OfferingTotals


class Loaders:
    """The loaders of one request; each batch runs in its own short session."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.issuer: DataLoader[int, Issuer | None] = DataLoader(load_fn=self._issuers)
        self.offering_totals: DataLoader[int, OfferingTotals] = DataLoader(
            load_fn=self._offering_totals)
        self.offering: DataLoader[int, Offering | None] = DataLoader(load_fn=self._offerings)
        self.wallets: DataLoader[int, list[str]] = DataLoader(load_fn=self._wallets)

    async def _issuers(self, ids: list[int]) -> Sequence[Issuer | None]:
        async with self._sessions() as session:
            found = await offerings.list_issuers_by_ids(session, ids=ids)
        return [found.get(i) for i in ids]

    async def _offering_totals(self, ids: list[int]) -> Sequence[OfferingTotals]:
        async with self._sessions() as session:
            totals = await offerings.list_offering_totals(session, offering_ids=ids)
        return [totals[i] for i in ids]

    async def _offerings(self, ids: list[int]) -> Sequence[Offering | None]:
        async with self._sessions() as session:
            found = await offerings.list_offerings_by_ids(session, ids=ids)
        return [found.get(i) for i in ids]

    async def _wallets(self, ids: list[int]) -> Sequence[list[str]]:
        async with self._sessions() as session:
            found = await investors.list_wallets_by_investor_ids(session, investor_ids=ids)
        return [found[i] for i in ids]

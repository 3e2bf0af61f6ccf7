"""Per-request DataLoaders: one SQL statement per kind of thing a page needs, whatever its size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from dpo.auth.principal import Principal
from dpo.db.models import Issuer, Offering, User
from dpo.errors import NotFoundError
from dpo.services import investor_queries, offerings, users
from dpo.services.offerings import OfferingTotals
from resolvers.issuer_loaders import IssuerOfferingLoaders


class RequestLoaders:
    """The loaders of one request (schema.context.Loaders).

    Shared (one HTTP request): every batch, and every read a resolver makes through
    `session()`, runs one at a time in one session opened on first use, so a request checks
    out one connection whatever the number of reads; `close` gives it back. The sessions are
    the runtime's read sessions (no BEGIN/ROLLBACK, dpo.db.session.read_session_factory).
    Not shared (a WebSocket connection, which may
    live for hours): each batch runs in its own short session, so no transaction stays open.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, shared: bool = False) -> None:
        self._sessions = sessions
        self._shared = shared
        self._session: AsyncSession | None = None
        # An AsyncSession runs one statement at a time; batches of different loaders
        # are dispatched concurrently.
        self._lock = asyncio.Lock()

    # Each loader is built on its first use: most requests use none (a page reads its
    # relations for all its nodes at once, a detail read joins them), and building all seven
    # for every request cost about 30 Python calls.
    @cached_property
    def issuer(self) -> DataLoader[int, Issuer | None]:
        """Issuers by id."""
        return DataLoader(load_fn=self._issuers)

    @cached_property
    def offering_totals(self) -> DataLoader[int, OfferingTotals]:
        """Committed totals by offering id."""
        return DataLoader(load_fn=self._offering_totals)

    @cached_property
    def offering(self) -> DataLoader[int, Offering | None]:
        """Offerings by id."""
        return DataLoader(load_fn=self._offerings)

    @cached_property
    def wallets(self) -> DataLoader[int, list[str]]:
        """Wallet addresses by investor id."""
        return DataLoader(load_fn=self._wallets)

    @cached_property
    def user(self) -> DataLoader[tuple[int, Principal], User | None]:
        """Users by (id, viewer)."""
        return DataLoader(load_fn=self._users)

    @cached_property
    def issuer_offerings(self) -> IssuerOfferingLoaders:
        """Offering pages and counts per issuer."""
        return IssuerOfferingLoaders(self.session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for one read: the request's shared one, or a short one of its own."""
        if not self._shared:
            async with self._sessions() as session:
                yield session
            return
        async with self._lock:
            if self._session is None:
                self._session = self._sessions()
            try:
                yield self._session
            except Exception:
                # A failed statement leaves the transaction unusable for the next batch.
                await self._session.rollback()
                raise

    async def close(self) -> None:
        """Give back the shared session's connection (a no-op if none was opened)."""
        async with self._lock:
            session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _issuers(self, ids: list[int]) -> Sequence[Issuer | None]:
        async with self.session() as session:
            found = await offerings.list_issuers_by_ids(session, ids=ids)
        return [found.get(i) for i in ids]

    async def _offering_totals(self, ids: list[int]) -> Sequence[OfferingTotals]:
        async with self.session() as session:
            totals = await offerings.list_offering_totals(session, offering_ids=ids)
        return [totals[i] for i in ids]

    async def _offerings(self, ids: list[int]) -> Sequence[Offering | None]:
        async with self.session() as session:
            found = await offerings.list_offerings_by_ids(session, ids=ids)
        return [found.get(i) for i in ids]

    async def _wallets(self, ids: list[int]) -> Sequence[list[str]]:
        async with self.session() as session:
            found = await investor_queries.list_wallets_by_investor_ids(session, investor_ids=ids)
        return [found[i] for i in ids]

    async def _users(self, keys: list[tuple[int, Principal]]) -> Sequence[User | None]:
        # Rarely more than one (the viewer, a node): read one by one, as the caller may see.
        found: list[User | None] = []
        async with self.session() as session:
            for user_id, principal in keys:
                try:
                    found.append(
                        await users.get_user(session, principal=principal, user_id=user_id)
                    )
                except NotFoundError:
                    found.append(None)
        return found

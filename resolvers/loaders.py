"""Per-request DataLoaders: one SQL statement per kind of thing a page needs, whatever its size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from dpo.auth.principal import Principal
from dpo.db.models import Issuer, Offering, User
from dpo.db.raw_reads import Connections, Reads
from dpo.errors import NotFoundError
from dpo.services import investor_queries, offerings, users
from dpo.services.offerings import OfferingTotals
from resolvers.issuer_loaders import IssuerOfferingLoaders


class RequestLoaders:
    """The loaders of one request (schema.context.Loaders).

    Shared (one HTTP request): every batch, and every read a resolver makes through
    `session()` or `reads()`, runs one at a time on one connection checked out on first use,
    so a request holds one connection whatever the number of reads; `close` gives it back.
    Raw reads (`reads()`) take it without a session (`connections`: dpo.db.pooled_reads)
    until something needs the session, which then takes over: the pooled connection goes
    back first, and later raw reads run on the session's. The sessions are the runtime's
    read sessions (no BEGIN/ROLLBACK, dpo.db.session.read_session_factory), so reads see no
    snapshot of their own either way. Not shared (a WebSocket connection, which may live for
    hours): each batch runs in its own short session or pooled connection, so no transaction
    stays open.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        shared: bool,
        connections: Connections,
    ) -> None:
        self._sessions = sessions
        self._shared = shared
        self._connections = connections
        self._session: AsyncSession | None = None
        # The request's raw-read connection while it holds one (shared), and its block's exit.
        self._held: Reads | None = None
        self._release: AbstractAsyncContextManager[Reads] | None = None
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
                await self._give_back()  # one connection at a time: the session's from now on
                self._session = self._sessions()
            try:
                yield self._session
            except Exception:
                # A failed statement leaves the transaction unusable for the next batch.
                await self._session.rollback()
                raise

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[Reads]:
        """Where raw reads run (dpo.db.raw_reads): the request's session if one was opened,
        else its pooled connection without a session, or (not shared) a short one of its own."""
        if not self._shared:
            async with self._connections() as reads:
                yield reads
            return
        async with self._lock:
            if self._session is None:
                if self._held is None:
                    opened = self._connections()
                    self._held = await opened.__aenter__()
                    self._release = opened
                yield self._held
                return
            try:
                yield self._session
            except Exception:
                await self._session.rollback()
                raise

    async def close(self) -> None:
        """Give back the request's connection (a no-op if none was checked out)."""
        async with self._lock:
            session, self._session = self._session, None
            await self._give_back()
        if session is not None:
            await session.close()

    async def _give_back(self) -> None:
        opened, self._release, self._held = self._release, None, None
        if opened is not None:
            await opened.__aexit__(None, None, None)

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

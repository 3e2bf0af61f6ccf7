"""What every field of the API receives: the request's context, its loaders' interface, `Info`.

schema/ declares the types and resolvers/ the root fields; both read the context, so it
lives here, in the inner of the two packages, and resolvers/ builds on schema/, never the
other way round. The loaders are an interface: fields of types (an offering's issuer, its
totals) load through it and so never open a session themselves; the implementation
(resolvers.loaders.RequestLoaders, DataLoaders over dpo.services) is handed in by whoever
builds the context (app/ for the transports, tests for in-process calls). dpo/ knows
nothing of Strawberry or Starlette, so the context cannot live there.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.models import Issuer, Offering, User
from dpo.db.raw_reads import Connections, Reads
from dpo.runtime import Runtime
from dpo.services.issuers import OfferingPageSpec
from dpo.services.offerings import OfferingTotals
from dpo.services.pagination import Page
from dpo.streaming.subscriber import FeedSubscription
from schema.shared_events import FrameSink

# Keys of the issuers' offering loaders: every issuer asked with the same arguments (and
# the same caller, who decides what is visible) shares one statement.
PageKey = tuple[int, OfferingPageSpec, Principal]
CountKey = tuple[int, str | None, Principal]
# A user as the caller may see them (absent or hidden alike: None).
UserKey = tuple[int, Principal]


class IssuerOfferingLoads(Protocol):
    """Offering pages and counts per issuer, batched across a page of issuers."""

    pages: DataLoader[PageKey, Page]
    counts: DataLoader[CountKey, int]


class Loaders(Protocol):
    """The loaders of one request, and the session its root fields read through."""

    # Read-only: an implementation may build each on first use.
    @property
    def issuer(self) -> DataLoader[int, Issuer | None]:
        """Issuers by id."""

    @property
    def offering(self) -> DataLoader[int, Offering | None]:
        """Offerings by id."""

    @property
    def offering_totals(self) -> DataLoader[int, OfferingTotals]:
        """Committed totals by offering id."""

    @property
    def wallets(self) -> DataLoader[int, list[str]]:
        """Wallet addresses by investor id."""

    @property
    def user(self) -> DataLoader[UserKey, User | None]:
        """Users by (id, viewer)."""

    @property
    def issuer_offerings(self) -> IssuerOfferingLoads:
        """Offering pages and counts per issuer."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for one read: the request's shared one, or a short one of its own."""

    def reads(self) -> AbstractAsyncContextManager[Reads]:
        """Where raw reads run (dpo.db.raw_reads): the request's connection, without a
        session unless one was opened, or a short pooled connection of its own."""

    async def close(self) -> None:
        """Give back the request's connection (a no-op if none was checked out)."""


class MakeLoaders(Protocol):
    """Builds a request's loaders; `shared`: one connection for all of them (one HTTP
    request); `connections`: how raw reads reach one without a session (Runtime's)."""

    def __call__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        shared: bool,
        connections: Connections,
    ) -> Loaders:
        """The loaders of one request."""


@dataclass
class Context:
    """The request, the caller and the process's shared resources."""

    request: Request | WebSocket
    runtime: Runtime
    make_loaders: MakeLoaders
    principal: Principal = field(default=ANONYMOUS)
    # A WebSocket's connection_init payload (Strawberry sets it); None over HTTP.
    connection_params: dict[str, object] | None = None
    # One session for all loader batches; whoever sets it closes `loaders` at the end
    # (the HTTP view does); WebSocket connections and in-process callers leave it off.
    share_session: bool = False
    # The rate-limit bucket the HTTP middleware already counted this request in (e.g.
    # "anon:203.0.113.9"), so a sign-in step is not counted twice there; None elsewhere.
    counted: str | None = None
    # How the transport ends a stream whose consumer stalled (the WebSocket closes with 4413,
    # an event stream ends); the feed hub calls it. None: only the subscription stops.
    on_slow: Callable[[FeedSubscription], None] | None = None
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """The loaders, built on first use: most WebSocket connections never need them."""
        if self._loaders is None:
            runtime = self.runtime
            self._loaders = self.make_loaders(
                runtime.reads, shared=self.share_session, connections=runtime.read_connections
            )
        return self._loaders

    async def close(self) -> None:
        """Close the loaders' session if they were built; a request that used none builds none."""
        if self._loaders is not None:
            await self._loaders.close()

    @property
    def frame_sink(self) -> FrameSink | None:
        """Where the running operation's shared frames go (schema.shared_events); None: none.

        Per operation, not per context: the operations of one WebSocket share its context, so
        the transport sets the sink in each operation's own task (`use_frame_sink`).
        """
        return _FRAME_SINK.get()

    def use_frame_sink(self, sink: FrameSink) -> None:
        """Send the shared frames of the operation running in this task to `sink`."""
        _FRAME_SINK.set(sink)


# Behind Context.frame_sink: a task's value, so each operation of a socket sees its own.
_FRAME_SINK: ContextVar[FrameSink | None] = ContextVar("dpo_frame_sink", default=None)

Info = strawberry.Info[Context, None]
"""What a field's resolver receives as `info`."""

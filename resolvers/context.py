"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.websockets import WebSocket

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.runtime import Runtime
from resolvers.loaders import Loaders


@dataclass
class Context:
    """The request, the caller and the process's shared resources."""

    request: Request | WebSocket
    runtime: Runtime
    principal: Principal = field(default=ANONYMOUS)
    # A WebSocket's connection_init payload (Strawberry sets it); None over HTTP.
    connection_params: dict[str, object] | None = None
    # One session for all loader batches; whoever sets it closes `loaders` at the end
    # (the HTTP view does); WebSocket connections and in-process callers leave it off.
    share_session: bool = False
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """The loaders, built on first use: most WebSocket connections never need them."""
        if self._loaders is None:
            self._loaders = Loaders(self.runtime.sessions, shared=self.share_session)
        return self._loaders

"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.websockets import WebSocket

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.runtime import Runtime


@dataclass
class Context:
    """The request, the caller and the process's shared resources."""

    request: Request | WebSocket
    runtime: Runtime
    principal: Principal = field(default=ANONYMOUS)

"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.websockets import WebSocket

from dpo.runtime import Runtime


@dataclass
class Context:
    """The request and the process's shared resources."""

    request: Request | WebSocket
    runtime: Runtime

"""What every simulator shares: its fault plan, its request log, its API key check, admin."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Scope

from sandbox.faults import ADMIN_PREFIX, FaultMiddleware, Faults


class Simulator:
    """One simulated provider; subclasses add their routes and state."""

    name = "sim"
    key_header = "authorization"
    key_prefix = "Bearer "

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.faults = Faults()
        self.requests: list[dict[str, Any]] = []

    # State planted through HTTP as JSON; subclasses override.
    def plant(self, state: dict[str, Any]) -> None:
        """Replace (part of) the simulated state."""

    def reset_state(self) -> None:
        """Back to the initial state."""

    def routes(self) -> list[BaseRoute]:
        """The provider's own routes."""
        return []

    def record(self, scope: Scope, fault: str | None) -> None:
        """Log a request as it arrives (never its key), with the fault it gets."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "request_id": headers.get("x-request-id"),
                "participant": headers.get("x-participant-id"),
                "fault": fault,
                "authorised": None,
            }
        )

    def authorised(self, request: Request) -> bool:
        """Check the key when one is configured; noted on the request's log line."""
        given = request.headers.get(self.key_header, "")
        expected = None if self.api_key is None else self.key_prefix + self.api_key
        ok = expected is None or hmac.compare_digest(given.encode(), expected.encode())
        if self.requests:
            self.requests[-1]["authorised"] = ok
        return ok

    def refuse(self) -> Response:
        """The answer to a wrong or missing key."""
        return JSONResponse({"error": "unauthorised"}, status_code=401)

    def app(self) -> ASGIApp:
        """The simulator as an ASGI app, faults applied."""

        async def faults(request: Request) -> Response:
            body = await request.json()
            self.faults.set(body.get("plan", []), always=body.get("always"))
            return JSONResponse({"ok": True})

        async def state(request: Request) -> Response:
            self.plant(await request.json())
            return JSONResponse({"ok": True})

        async def reset(request: Request) -> Response:
            self.faults.clear()
            self.requests.clear()
            self.reset_state()
            return JSONResponse({"ok": True})

        async def log(request: Request) -> Response:
            return JSONResponse(
                {"requests": self.requests, "faults_injected": dict(self.faults.injected)}
            )

        admin = [
            Route(f"{ADMIN_PREFIX}/faults", faults, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/state", state, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/reset", reset, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/requests", log, methods=["GET"]),
        ]
        return FaultMiddleware(Starlette(routes=[*admin, *self.routes()]), self.faults, self.record)

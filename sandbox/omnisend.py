"""Omnisend v3 custom events (the trigger of transactional e-mail)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.base import Simulator


class OmnisendSim(Simulator):
    """Records every accepted event in `events`."""

    name = "omnisend"
    key_header = "x-api-key"
    key_prefix = ""

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.faults.wrong_schema_body = b'["unexpected"]'
        self.events: list[dict[str, Any]] = []

    def reset_state(self) -> None:
        """No events."""
        self.events = []

    def routes(self) -> list[BaseRoute]:
        """POST /events."""

        async def event(request: Request) -> Response:
            if not self.authorised(request):
                return self.refuse()
            body = await request.json()
            if (
                not isinstance(body, dict)
                or not body.get("systemName")
                or not (body.get("email") or body.get("phone"))
            ):
                return JSONResponse(
                    {"error": "systemName and email or phone required"}, status_code=400
                )
            self.events.append(body)
            return JSONResponse({}, status_code=200)

        async def listed(request: Request) -> Response:
            return JSONResponse({"events": self.events})

        return [
            Route("/events", event, methods=["POST"]),
            Route("/_sandbox/events", listed, methods=["GET"]),
        ]

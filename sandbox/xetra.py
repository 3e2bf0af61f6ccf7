"""Xetra instrument prices."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.base import Simulator


class XetraSim(Simulator):
    """Plant {"prices": [{"isin", "currency", "last", "asOf"}]}."""

    name = "xetra"

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.prices: dict[str, dict[str, Any]] = {}

    def reset_state(self) -> None:
        """No prices."""
        self.prices = {}

    def plant(self, state: dict[str, Any]) -> None:
        """Add or replace prices by ISIN."""
        for price in state.get("prices", []):
            self.prices[price["isin"]] = price

    def routes(self) -> list[BaseRoute]:
        """GET /v1/instruments/prices?isin=A,B."""

        async def prices(request: Request) -> Response:
            if not self.authorised(request):
                return self.refuse()
            wanted = [i for i in request.query_params.get("isin", "").split(",") if i]
            return JSONResponse({"prices": [self.prices[i] for i in wanted if i in self.prices]})

        return [Route("/v1/instruments/prices", prices, methods=["GET"])]

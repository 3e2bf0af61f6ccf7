"""Euroclear and Clearstream: semt.002 statements (paginated), sese.024 statuses, PMI."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.base import Simulator


def isin_check_digit(body: str) -> str:
    """The ISIN check digit of 11 characters (Luhn over the letters-as-numbers form)."""
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


class CsdSim(Simulator):
    """Plant {"statement_date", "statement_id", "page_size", "holdings": [{account, isin,
    quantity}], "statuses": {ref: {prcgSts, mtchgSts, sttlmSts, rsn?, sttldAt?}}}."""

    def __init__(self, name: str, *, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        """An empty statement for today."""
        self.statement_date = date.today()
        self.statement_id = f"{self.name[:2].upper()}-{self.statement_date:%Y%m%d}"
        self.page_size = 100
        self.holdings: list[dict[str, Any]] = []
        self.statuses: dict[str, dict[str, Any]] = {}

    def plant(self, state: dict[str, Any]) -> None:
        """Replace the parts given."""
        if "statement_date" in state:
            self.statement_date = date.fromisoformat(state["statement_date"])
        self.statement_id = state.get("statement_id", self.statement_id)
        self.page_size = int(state.get("page_size", self.page_size))
        if "holdings" in state:
            self.holdings = list(state["holdings"])
        self.statuses.update(state.get("statuses", {}))

    def routes(self) -> list[BaseRoute]:
        """The statement and status routes."""

        async def statement(request: Request) -> Response:
            if not self.authorised(request):
                return self.refuse()
            wanted = request.query_params.get("date")
            if wanted and wanted != self.statement_date.isoformat():
                return JSONResponse({"error": "no statement for that date"}, status_code=404)
            page = int(request.query_params.get("page", "1"))
            pages = max(1, -(-len(self.holdings) // self.page_size))
            if not 1 <= page <= pages:
                return JSONResponse({"error": "no such page"}, status_code=404)
            lines = self.holdings[(page - 1) * self.page_size : page * self.page_size]
            return JSONResponse(
                {
                    "stmtGnlDtls": {
                        "stmtId": self.statement_id,
                        "stmtDt": self.statement_date.isoformat(),
                        "pgntn": {"pgNb": page, "lastPgInd": page == pages},
                    },
                    "balances": [
                        {
                            "sfkpgAcct": h["account"],
                            "isin": h["isin"],
                            "aggtBal": str(h["quantity"]),
                        }
                        for h in lines
                    ],
                }
            )

        async def statuses(request: Request) -> Response:
            if not self.authorised(request):
                return self.refuse()
            refs = (await request.json()).get("refs", [])
            return JSONResponse(
                {
                    "statuses": [
                        {"ref": ref, **self.statuses[ref]} for ref in refs if ref in self.statuses
                    ]
                }
            )

        return [
            Route("/v1/semt002/statements", statement, methods=["GET"]),
            Route("/v1/sese024/status-queries", statuses, methods=["POST"]),
        ]


class ClearstreamSim(CsdSim):
    """A CSD plus PMI: plant {"pmi_mode": "allocate" | "pending" | "reject"}."""

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__("clearstream", api_key=api_key)

    def reset_state(self) -> None:
        """No ISIN requests yet; requests are allocated at once."""
        super().reset_state()
        self.pmi_mode = "allocate"
        self.isin_requests: dict[str, dict[str, Any]] = {}
        self.isins_allocated = 0

    def plant(self, state: dict[str, Any]) -> None:
        """CSD state and the PMI mode."""
        super().plant(state)
        self.pmi_mode = state.get("pmi_mode", self.pmi_mode)

    def routes(self) -> list[BaseRoute]:
        """CSD routes plus POST /v1/pmi/isin-requests (de-duplicated by requestRef)."""

        async def isin_request(request: Request) -> Response:
            if not self.authorised(request):
                return self.refuse()
            body = await request.json()
            ref = body.get("requestRef")
            if not isinstance(ref, str) or not body.get("issuerName"):
                return JSONResponse(
                    {"error": "requestRef and issuerName required"}, status_code=400
                )
            known = self.isin_requests.get(ref)
            if known is None or (known["status"] == "PENDING" and self.pmi_mode != "pending"):
                known = self._decide(ref)
                self.isin_requests[ref] = known
            return JSONResponse(known, status_code=200)

        return [*super().routes(), Route("/v1/pmi/isin-requests", isin_request, methods=["POST"])]

    def _decide(self, ref: str) -> dict[str, Any]:
        if self.pmi_mode == "pending":
            return {"requestRef": ref, "status": "PENDING"}
        if self.pmi_mode == "reject":
            return {"requestRef": ref, "status": "REJECTED", "reason": "issuer not onboarded"}
        self.isins_allocated += 1
        body = f"XS{9_000_000_000 + self.isins_allocated - 1:09d}"[:11]
        return {"requestRef": ref, "status": "ALLOCATED", "isin": body + isin_check_digit(body)}

"""The ECB's eurofxref-daily.xml feed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.base import Simulator

DEFAULT_RATES = {
    "USD": "1.0812",
    "JPY": "162.45",
    "GBP": "0.85630",
    "CHF": "0.9412",
    "SEK": "11.2350",
}


def render(as_of: date, rates: dict[str, Decimal]) -> bytes:
    """The feed's XML for one day."""
    cubes = "".join(f"\n\t\t\t<Cube currency='{c}' rate='{r}'/>" for c, r in rates.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
        "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
        "\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n"
        "\t</gesmes:Sender>\n"
        f"\t<Cube>\n\t\t<Cube time='{as_of.isoformat()}'>{cubes}\n\t\t</Cube>\n\t</Cube>\n"
        "</gesmes:Envelope>\n"
    ).encode()


class EcbSim(Simulator):
    """Serves one day's rates; plant {"as_of": "YYYY-MM-DD", "rates": {"USD": "1.08"}}."""

    name = "ecb"

    def __init__(self) -> None:
        super().__init__()
        self.faults.content_type = "text/xml"
        self.faults.malformed_body = b"<gesmes:Envelope><Cube><Cube time='2026-01-02'>"
        self.faults.wrong_schema_body = (
            b'<?xml version="1.0"?><rates day="2026-01-02"><rate ccy="USD">1.08</rate></rates>'
        )
        self.reset_state()

    def reset_state(self) -> None:
        """Today's date and a few currencies."""
        self.as_of = date.today()
        self.rates = {c: Decimal(r) for c, r in DEFAULT_RATES.items()}

    def plant(self, state: dict[str, Any]) -> None:
        """Set the day and/or the rates."""
        if "as_of" in state:
            self.as_of = date.fromisoformat(state["as_of"])
        if "rates" in state:
            self.rates = {c: Decimal(str(r)) for c, r in state["rates"].items()}

    def routes(self) -> list[BaseRoute]:
        """GET /eurofxref-daily.xml."""

        async def daily(request: Request) -> Response:
            self.authorised(request)
            return Response(render(self.as_of, self.rates), media_type="text/xml")

        return [Route("/eurofxref-daily.xml", daily, methods=["GET"])]

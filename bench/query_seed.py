"""The rows bench/query.py measures against: ISSUERS issuers, OFFERINGS open offerings with
investments by INVESTORS investors, and the positions of one holder (HOLDER).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from dpo.db.models import Investment, Investor, Issuer, Offering, Position
from dpo.db.session import create_engine
from dpo.services.codes import isin_check_digit

OFFERINGS = 10_000
ISSUERS = 100
INVESTORS = 200
HOLDER = "0x" + "ab" * 20


def isin(number: int) -> str:
    body = f"US{number:09d}"
    return body + str(isin_check_digit(body))


async def seed(url: str) -> None:
    """Issuers, 10,000 open offerings with investments, and one holder's positions."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Issuer),
            [{"id": i, "name": f"Issuer {i}", "country": "DE"} for i in range(1, ISSUERS + 1)],
        )
        await connection.execute(
            insert(Offering),
            [
                {
                    "id": i,
                    "issuer_id": i % ISSUERS + 1,
                    "isin": isin(i),
                    "name": f"Offering {i}",
                    "symbol": f"OF{i}",
                    "security_type": "equity",
                    "regulation": "reg_s",
                    "currency": "EUR",
                    "unit_price": Decimal("10"),
                    "status": "open",
                    "opens_at": now - timedelta(days=1),
                    "closes_at": now + timedelta(days=30),
                    "allowed_countries": [],
                }
                for i in range(1, OFFERINGS + 1)
            ],
        )
        await connection.execute(
            insert(Investor),
            [
                {
                    "id": i,
                    "full_name": f"Investor {i}",
                    "country": "DE",
                }
                for i in range(1, INVESTORS + 1)
            ],
        )
        await connection.execute(
            insert(Investment),
            [
                {
                    "investor_id": n % INVESTORS + 1,
                    "offering_id": n % OFFERINGS + 1,
                    "amount": Decimal("1000"),
                    "currency": "EUR",
                    "state": "paid",
                    "payment_reference": f"bench-{n}",
                }
                for n in range(3 * OFFERINGS)
            ],
        )
        await connection.execute(
            insert(Position),
            [
                {
                    "holder_address": HOLDER,
                    "offering_id": i,
                    "location": location,
                    "quantity": 100 * i,
                }
                for i in range(1, 251)
                for location in ("onchain", "euroclear")
            ],
        )
    await engine.dispose()

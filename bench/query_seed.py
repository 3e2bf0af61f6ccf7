"""The rows bench/query.py measures against: ISSUERS issuers, OFFERINGS open offerings with
investments by INVESTORS investors, the positions of one holder (HOLDER) and EVENTS chain
event feed items (transfers and investments, as the listener stores them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from dpo.db.models import ChainEvent, Investment, Investor, Issuer, Offering, Position
from dpo.db.session import create_engine
from dpo.services.codes import isin_check_digit

OFFERINGS = 10_000
ISSUERS = 100
INVESTORS = 200
HOLDER = "0x" + "ab" * 20
EVENTS = 20_000
TOKEN = "0x" + "5f" * 20


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
        await connection.execute(
            insert(ChainEvent), [event_row(n, now) for n in range(1, EVENTS + 1)]
        )
    await engine.dispose()


def event_row(n: int, now: datetime) -> dict[str, object]:
    """Feed item n: a token transfer, or every fourth an investment on the offering contract."""
    block = 1_000 + n // 4
    transfer = n % 4 != 0
    return {
        "id": n,
        "chain_id": 31337,
        "contract_address": TOKEN if transfer else "0x" + "7c" * 20,
        "contract_name": "SecurityToken" if transfer else "STO",
        "event_name": "Transfer" if transfer else "Invested",
        "block_number": block,
        "block_hash": "0x" + f"{block:064x}",
        "block_timestamp": now - timedelta(seconds=EVENTS - n),
        "tx_hash": "0x" + f"{n:064x}",
        "tx_index": 0,
        "log_index": n % 4,
        "args": (
            {"from": HOLDER, "to": "0x" + f"{n:040x}", "value": str(10**18 * n)}
            if transfer
            else {"offeringId": str(n % OFFERINGS + 1), "investor": HOLDER, "amount": str(n)}
        ),
    }

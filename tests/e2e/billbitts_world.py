"""Orders paid through the sandbox BillBitts, and their rows, for the expiry and cancel tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.e2e.http_seed import World
from tests.e2e.http_world import Caller
from tests.e2e.test_payment_requests import SUBMIT
from tests.integration.api.committed import Api

CANCEL = "mutation($id: ID!) { cancelInvestment(id: $id) { id state } }"
GRACE = 600


async def submit(caller: Caller, world: World) -> dict[str, Any]:
    data = await caller.data(
        SUBMIT,
        input={
            "offeringId": world.gid("Offering", "acme_open"),
            "amount": "100",
            "currency": "EUR",
        },
    )
    order: dict[str, Any] = data["submitInvestment"]
    assert order["paymentId"], order  # BillBitts (the sandbox) made the request
    return order


async def row(api: Api, reference: str) -> Any:
    async with api.runtime.sessions() as session:
        return (
            await session.execute(
                text(
                    "SELECT id, state, payment_status, payment_cancel_at, payment_cancel_attempts, "
                    "payment_check_at, payment_error FROM investments WHERE payment_reference = :r"
                ),
                {"r": reference},
            )
        ).one()


async def expire(api: Api, reference: str, *, ago: int = GRACE + 60) -> int:
    async with api.runtime.sessions() as session, session.begin():
        found = await session.scalar(
            text(
                "UPDATE investments SET payment_expires_at = now() - make_interval(secs => :a) "
                "WHERE payment_reference = :r RETURNING id"
            ),
            {"a": ago, "r": reference},
        )
    return int(found)


async def due_now(api: Api, reference: str, column: str) -> None:
    assert column in ("payment_cancel_at", "payment_check_at")
    async with api.runtime.sessions() as session, session.begin():
        await session.execute(
            text(f"UPDATE investments SET {column} = now() WHERE payment_reference = :r"),  # noqa: S608
            {"r": reference},
        )

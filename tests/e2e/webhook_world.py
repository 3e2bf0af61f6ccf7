"""Sending BillBitts webhooks to a real `dpo web`, and counting what they changed."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from dpo.db.models import Investment
from dpo.payments.events import encode
from dpo.payments.signature import HEADER, header_value
from tests.integration.api.committed import Api

WEBHOOK_SECRET = "whsec-e2e-" + secrets.token_hex(24)
PATH = "/webhooks/billbitts"
_events = itertools.count(1)
_refs = itertools.count(1)


def event_id() -> str:
    """A fresh event id."""
    return f"evt_e2e_{secrets.token_hex(4)}_{next(_events)}"


def body_for(
    kind: str,
    reference: str,
    *,
    amount: str = "100",
    currency: str = "EUR",
    payment_id: str | None = None,
    eid: str | None = None,
) -> bytes:
    """A payment event's body in the wire format."""
    return encode(
        eid or event_id(),
        kind,
        int(time.time()),
        {
            "paymentId": payment_id or f"pay_{reference.replace('-', '_')}",
            "reference": reference,
            "amount": amount,
            "currency": currency,
        },
    )


def signed(
    body: bytes, *, secrets_: list[str] | None = None, at: int | None = None
) -> dict[str, str]:
    """Headers of a correctly signed JSON delivery."""
    keys = [s.encode() for s in (secrets_ or [WEBHOOK_SECRET])]
    return {
        HEADER: header_value(keys, at if at is not None else int(time.time()), body),
        "Content-Type": "application/json",
    }


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """One delivery."""
    return await client.post(PATH, content=body, headers=headers)


async def new_order(
    api: Api, *, investor_id: int, offering_id: int, amount: Decimal = Decimal(100)
) -> tuple[int, str]:
    """A fresh order awaiting payment: (id, payment reference)."""
    reference = f"DPO-WH{next(_refs):02d}-{secrets.token_hex(2).upper()}"
    async with api.runtime.sessions() as session, session.begin():
        row = Investment(
            investor_id=investor_id,
            offering_id=offering_id,
            amount=amount,
            currency="EUR",
            units=int(amount // 10),
            payment_reference=reference,
        )
        session.add(row)
        await session.flush()
        return row.id, reference


@dataclass(frozen=True)
class Counts:
    """What deliveries can change, for one order."""

    state: str
    deliveries: int
    intents: tuple[str, ...]
    notifications: tuple[str, ...]


async def counts(api: Api, investment_id: int, reference: str) -> Counts:
    """The order's state, its stored deliveries, chain intents and notifications."""
    async with api.runtime.sessions() as session:
        state = await session.scalar(
            text("SELECT state FROM investments WHERE id = :i"), {"i": investment_id}
        )
        deliveries = await session.scalar(
            text(
                "SELECT count(*) FROM webhook_deliveries WHERE payload->'data'->>'reference' = :r"
            ),
            {"r": reference},
        )
        intents = (
            await session.scalars(
                text("SELECT kind FROM chain_intents WHERE investment_id = :i ORDER BY id"),
                {"i": investment_id},
            )
        ).all()
        notes = (
            await session.scalars(
                text("SELECT key FROM notifications WHERE key LIKE :k ORDER BY id"),
                {"k": f"%:inv:{investment_id}"},
            )
        ).all()
    return Counts(str(state), int(deliveries or 0), tuple(intents), tuple(notes))


async def rows(api: Api, table: str) -> int:
    """How many rows a table has (table names are ours, not input)."""
    async with api.runtime.sessions() as session:
        statement = text(f'SELECT count(*) FROM "{table}"')  # noqa: S608
        return int(await session.scalar(statement) or 0)


def deliveries_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON answer of a delivery."""
    body: dict[str, Any] = response.json()
    return body

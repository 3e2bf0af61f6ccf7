"""The stored webhook deliveries, for ops: what came in, what it did, and why not.

Ops read this to act on the deliveries the payment state machine could not apply (kept as
`failed` with the reason: paid after the investor cancelled, another amount, a refund after
issuance). Only the envelope and what we decided are shown: the event id, its type, when it
arrived, the outcome and reason, and the order's payment reference (read from the body
server-side). The body itself is never returned: it is BillBitts' document, and nothing in a
view for people needs more of it than the reference. The signature header is never stored.

Newest first (id descending): ops look at what just happened; a keyset on the id keeps the
pages stable while deliveries keep arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from dpo.auth.principal import Principal
from dpo.db.models import Investment, WebhookDelivery
from dpo.db.models.enums import WebhookStatus
from dpo.errors import NotFoundError
from dpo.services.ops import require_ops
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate

NEWEST_FIRST = Ordering(
    "webhook_deliveries_newest", (SortKey(WebhookDelivery.id.expression, descending=True),)
)
# The order a payment event is about: BillBitts' `data.reference`, our payment reference.
REFERENCE = WebhookDelivery.payload["data"]["reference"].astext


@dataclass(frozen=True)
class DeliveryView:
    """One delivery as ops see it (no body, no header)."""

    id: int
    provider: str
    event_id: str
    event_type: str | None
    status: str
    reason: str | None
    received_at: datetime
    processed_at: datetime | None
    payment_reference: str | None
    investment_id: int | None


def _statement(status: WebhookStatus | None) -> Select[Any]:
    query = select(WebhookDelivery).options(defer(WebhookDelivery.payload))
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    return query


async def list_deliveries(
    session: AsyncSession,
    *,
    principal: Principal,
    status: WebhookStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """A page of deliveries, newest first, optionally of one status (ops, admin)."""
    require_ops(principal)
    page = await paginate(
        session,
        _statement(status),
        ordering=NEWEST_FIRST,
        first=first,
        after=after,
        last=last,
        before=before,
    )
    return Page(
        await _views(session, page.rows), page.cursors, page.has_next_page, page.has_previous_page
    )


async def get_delivery(
    session: AsyncSession, *, principal: Principal, delivery_id: int
) -> DeliveryView:
    """One delivery (ops, admin)."""
    require_ops(principal)
    found = (await session.scalars(_statement(None).where(WebhookDelivery.id == delivery_id))).all()
    if not found:
        raise NotFoundError("no such webhook delivery", id=delivery_id)
    return (await _views(session, list(found)))[0]


async def _views(session: AsyncSession, deliveries: list[WebhookDelivery]) -> list[DeliveryView]:
    orders: dict[int, tuple[str | None, int | None]] = {}
    if deliveries:
        # The reference is read in the database: the body itself never leaves it.
        found = await session.execute(
            select(WebhookDelivery.id, REFERENCE, Investment.id)
            .outerjoin(Investment, Investment.payment_reference == REFERENCE)
            .where(WebhookDelivery.id.in_([d.id for d in deliveries]))
        )
        orders = {row[0]: (row[1], row[2]) for row in found.all()}
    return [
        DeliveryView(
            id=d.id,
            provider=d.provider,
            event_id=d.delivery_id,
            event_type=d.event_type,
            status=d.status,
            reason=d.error,
            received_at=d.received_at,
            processed_at=d.processed_at,
            payment_reference=_short(orders.get(d.id, (None,))[0]),
            investment_id=orders.get(d.id, (None, None))[1],
        )
        for d in deliveries
    ]


async def count_deliveries(
    session: AsyncSession, *, principal: Principal, status: WebhookStatus | None = None
) -> int:
    """How many deliveries list_deliveries would page through."""
    require_ops(principal)
    return await count(session, _statement(status))


def _short(reference: str | None) -> str | None:
    # Parsed events carry at most 64 characters; an unknown type's body is not checked.
    return None if reference is None else reference[:64]

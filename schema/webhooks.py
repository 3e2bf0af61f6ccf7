"""Stored webhook deliveries, as ops see them (never the body or a signature)."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.services import webhook_deliveries as deliveries
from schema.enums import WebhookStatus
from schema.relay import Node, to_global_id


@strawberry.type(
    description=(
        "One provider delivery as stored: its event, what it did and why. `FAILED` ones were "
        "valid but not applicable (paid after the investor cancelled, another amount, a refund "
        "after issuance) and need a person."
    )
)
class WebhookDelivery(Node):
    id: strawberry.ID
    provider: str
    event_id: str = strawberry.field(description="The provider's event id (de-duplication key).")
    event_type: str | None
    status: WebhookStatus
    reason: str | None = strawberry.field(
        description="Why it was ignored or needs ops; null when processed."
    )
    received_at: dt.datetime
    processed_at: dt.datetime | None
    payment_reference: str | None = strawberry.field(
        description="The order's payment reference the event names."
    )
    investment_id: strawberry.ID | None = strawberry.field(
        description="The order with that reference, when there is one."
    )

    @classmethod
    def from_view(cls, row: deliveries.DeliveryView) -> WebhookDelivery:
        """The API view of a delivery."""
        return cls(
            id=to_global_id("WebhookDelivery", row.id),
            provider=row.provider,
            event_id=row.event_id,
            event_type=row.event_type,
            status=WebhookStatus(row.status),
            reason=row.reason,
            received_at=row.received_at,
            processed_at=row.processed_at,
            payment_reference=row.payment_reference,
            investment_id=(
                None if row.investment_id is None else to_global_id("Investment", row.investment_id)
            ),
        )

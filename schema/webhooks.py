"""Stored webhook deliveries, as ops see them (never the body or a signature)."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from schema.relay import Node


@strawberry.enum(description="What became of a webhook delivery.")
class WebhookDeliveryStatus(Enum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


@strawberry.type(description=(
    "One provider delivery as stored: its event, what it did and why. `FAILED` ones were "
    "valid but not applicable (paid after the investor cancelled, another amount, a refund "
    "after issuance) and need a person."))
class WebhookDelivery(Node):
    id: strawberry.ID
    provider: str
    event_id: str = strawberry.field(description="The provider's event id (de-duplication key).")
    event_type: str | None
    status: WebhookDeliveryStatus
    reason: str | None = strawberry.field(
        description="Why it was ignored or needs ops; null when processed.")
    received_at: dt.datetime
    processed_at: dt.datetime | None
    payment_reference: str | None = strawberry.field(
        description="The order's payment reference the event names.")
    investment_id: strawberry.ID | None = strawberry.field(
        description="The order with that reference, when there is one.")

"""A BillBitts webhook body as a typed event (the wire format is in docs/INTEGRATIONS.md).

    {"id": "evt_…", "type": "payment.paid", "created": 1764877000,
     "data": {"paymentId": "pay_…", "reference": "DPO-7K3M-Q9XA",
              "amount": "100.00", "currency": "EUR"}}

The envelope (id, type, created) is checked for every delivery, so any event can be stored
and de-duplicated by its id; `data` is checked only for the types we act on. An unknown type
is an `Envelope` with no `payment`: acknowledged and ignored, never an error, so BillBitts
adding a type never makes us refuse (and it retry) deliveries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticError

from dpo.safe_json import loads

EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:.\-]{0,127}$")]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
PaymentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_DEPTH = 8


class PaymentEvent(StrEnum):
    """The event types that move an order; anything else is ignored."""

    PAID = "payment.paid"
    FAILED = "payment.failed"
    EXPIRED = "payment.expired"
    REFUNDED = "payment.refunded"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _Envelope(_Strict):
    id: EventId
    type: EventType
    created: int = Field(ge=0, lt=10**12)
    data: dict[str, Any] = Field(default_factory=dict)


class PaymentData(_Strict):
    """What a payment event says about the payment."""

    payment_id: PaymentId = Field(alias="paymentId")
    reference: Reference
    amount: Decimal = Field(gt=0, lt=Decimal(10) ** 20, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


@dataclass(frozen=True)
class Event:
    """A delivery's event: always an id and a type; `payment` for the types we act on."""

    id: str
    type: str
    created: datetime
    payload: dict[str, Any]
    kind: PaymentEvent | None = None
    payment: PaymentData | None = None


class MalformedEvent(Exception):  # noqa: N818 (a refusal, answered 400)
    """A signed body we cannot read; the message is ours (no echo of the body)."""


def parse(body: bytes) -> Event:
    """The event in a (verified) body, or MalformedEvent."""
    try:
        document = loads(body, max_depth=MAX_DEPTH)
    except (ValueError, UnicodeDecodeError):
        raise MalformedEvent("body is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedEvent("body is not a JSON object")
    try:
        envelope = _Envelope.model_validate(document)
    except PydanticError as error:
        raise MalformedEvent(f"envelope: {_where(error)}") from None
    created = datetime.fromtimestamp(envelope.created, UTC)
    kinds = {kind.value: kind for kind in PaymentEvent}
    kind = kinds.get(envelope.type)
    if kind is None:
        return Event(envelope.id, envelope.type, created, document)
    try:
        payment = PaymentData.model_validate(envelope.data)
    except PydanticError as error:
        raise MalformedEvent(f"data: {_where(error)}") from None
    return Event(envelope.id, envelope.type, created, document, kind, payment)


def _where(error: PydanticError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['type']}"


def encode(event_id: str, event_type: str, created: int, data: dict[str, Any]) -> bytes:
    """A body in the wire format (the sandbox sends these; tests forge them)."""
    return json.dumps(
        {"id": event_id, "type": event_type, "created": created, "data": data},
        separators=(",", ":"),
    ).encode()

"""A verified BillBitts delivery: applied and stored, once per event id, in one short transaction.

The handler (app/webhooks.py) has checked the signature and parsed the body; here, in the
caller's transaction:
1. the order the event names is locked (FOR UPDATE OF the order only, read together with the
   investor's e-mail in the same statement) and the state machine (dpo.payments.states)
   decides on the state as it now is;
2. the transition, its chain intents (dpo.sender.intents: issuance on paid, refund on a
   refund before issuance) and the investor's notification are written;
3. the delivery is inserted into `webhook_deliveries` with its outcome, unique on (provider,
   event id) with ON CONFLICT DO NOTHING. When the event id was stored before, nothing is
   inserted and DuplicateDelivery is raised: the caller rolls the whole transaction back, so
   a second delivery of the same event — sequential or concurrent — changes nothing.
So the state change, the chain work it needs, the message and the stored delivery exist
together or not at all, and the answer goes back as soon as this commits (no provider or
chain call inside).

Why this order (decision — the answer time): the delivery used to be inserted first and
updated with its outcome last, and the e-mail read apart, which made a paid delivery eleven
round trips to PostgreSQL with the order locked across most of them. Locking the order
first costs nothing in correctness — two copies of one event queue on the order's lock, and
the second finds the order moved (the table answers a repeated event with "ignored") and
then the conflict — and leaves eight round trips (begin, lock + e-mail, the order's update,
the two intents, the message, the delivery, commit). Copies of an event that names no order
queue on the unique index instead, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.base import utcnow
from dpo.db.models import Investment, Investor, Offering, WebhookDelivery
from dpo.db.models.enums import InvestmentState, PaymentStatus, WebhookStatus
from dpo.notifications.outbox import notify_investor
from dpo.payments.events import Event, PaymentEvent
from dpo.payments.states import Action, Decision, Outcome, decide, mismatch
from dpo.sender.intents import enqueue_issuance, enqueue_refund, new_onchain_reference
from dpo.services.investments import committed_total

logger = logging.getLogger(__name__)

PROVIDER = "billbitts"
_STATUS = {
    PaymentEvent.PAID: PaymentStatus.PAID,
    PaymentEvent.FAILED: PaymentStatus.FAILED,
    PaymentEvent.EXPIRED: PaymentStatus.EXPIRED,
    PaymentEvent.REFUNDED: PaymentStatus.REFUNDED,
}


@dataclass(frozen=True)
class Received:
    """What became of a delivery."""

    duplicate: bool
    status: str
    reason: str = ""
    investment_id: int | None = None
    changed: bool = False  # an order moved (caches and subscribers are told)


class DuplicateDelivery(Exception):  # noqa: N818 (an outcome, not a failure)
    """The event id is already stored: roll the caller's transaction back."""


DUPLICATE = Received(duplicate=True, status="duplicate", reason="event already received")


async def receive(session: AsyncSession, event: Event) -> Received:
    """Apply the event and store the delivery with its outcome; no commit.

    Raises DuplicateDelivery when this event id was stored before; the caller must then roll
    back, which undoes whatever this call applied.
    """
    result = await apply_event(session, event)
    stored = await session.scalar(
        insert(WebhookDelivery)
        .values(
            provider=PROVIDER,
            delivery_id=event.id,
            event_type=event.type,
            payload=event.payload,
            status=result.status,
            attempts=1,
            error=result.reason[:1000] or None,
            processed_at=func.now(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "delivery_id"])
        .returning(WebhookDelivery.id)
    )
    if stored is None:
        raise DuplicateDelivery
    if result.status == WebhookStatus.FAILED.value:
        logger.warning("billbitts event %s (%s) needs ops: %s", event.id, event.type, result.reason)
    return result


async def apply_event(session: AsyncSession, event: Event) -> Received:
    """Lock the order the event names and apply the state machine's decision; no commit.

    Webhook deliveries come here after being stored; the expiry worker brings the event
    BillBitts' status amounts to (dpo.payments.expiry), so both follow one table.
    """
    if event.kind is None or event.payment is None:
        return Received(False, WebhookStatus.IGNORED.value, "event type not handled")
    payment = event.payment
    # The order alone is locked (never the investor: their other orders' events go on).
    found = (
        await session.execute(
            select(Investment, Investor.email)
            .join(Investor, Investor.id == Investment.investor_id)
            .where(Investment.payment_reference == payment.reference)
            .with_for_update(of=Investment)
        )
    ).first()
    if found is None:
        return Received(False, WebhookStatus.IGNORED.value, "no order with this reference")
    investment, email = found
    if investment.payment_id is not None and investment.payment_id != payment.payment_id:
        return _needs_ops(investment, "the event's payment id is not the order's")
    state = InvestmentState(investment.state)
    decision = decide(
        state,
        event.kind,
        cancelled_by_payment=(
            state is InvestmentState.CANCELLED
            and investment.payment_status
            in (PaymentStatus.FAILED.value, PaymentStatus.EXPIRED.value)
        ),
    )
    if decision.outcome is Outcome.APPLIED and event.kind is PaymentEvent.PAID:
        wrong = mismatch(
            amount=investment.amount,
            currency=investment.currency,
            paid_amount=payment.amount,
            paid_currency=payment.currency,
        )
        if wrong is not None:
            return _needs_ops(investment, wrong)
        if decision.needs_capacity and not await _room_for(session, investment):
            return _needs_ops(investment, "paid after expiry, but the hard cap is now full")
    if decision.outcome is not Outcome.APPLIED or decision.state is None:
        return Received(False, decision.outcome.value, decision.reason, investment.id)
    await _transition(session, investment, decision, event, email)
    return Received(False, decision.outcome.value, decision.reason, investment.id, True)


def _needs_ops(investment: Investment, reason: str) -> Received:
    return Received(False, Outcome.NEEDS_OPS.value, reason, investment.id)


async def _room_for(session: AsyncSession, investment: Investment) -> bool:
    offering = await session.scalar(
        select(Offering).where(Offering.id == investment.offering_id).with_for_update()
    )
    if offering is None or offering.hard_cap is None:
        return offering is not None
    committed: Decimal = await committed_total(session, offering.id)
    return committed + investment.amount <= offering.hard_cap


async def _transition(
    session: AsyncSession,
    investment: Investment,
    decision: Decision,
    event: Event,
    email: str | None,
) -> None:
    assert decision.state is not None
    assert event.kind is not None
    assert event.payment is not None
    investment.state = decision.state.value
    investment.payment_status = _STATUS[event.kind].value
    if investment.payment_id is None:
        investment.payment_id = event.payment.payment_id
    if decision.state is InvestmentState.PAID:
        investment.paid_at = _when(event.created)
    if decision.action is Action.ISSUE and investment.onchain_reference is None:
        # Drawn here so the order's one UPDATE carries it (enqueue_issuance keeps it).
        investment.onchain_reference = new_onchain_reference()
    await session.flush()
    if decision.action is Action.ISSUE:
        await enqueue_issuance(session, investment)
        await notify_order(session, investment, "payment_confirmed", email=email)
    elif decision.action is Action.REFUND:
        await enqueue_refund(session, investment)
    if decision.state is InvestmentState.CANCELLED:
        await notify_order(
            session, investment, "investment_cancelled", reason=decision.reason, email=email
        )


def _when(created: datetime) -> datetime:
    # BillBitts' clock says when the money arrived; never later than our now.
    return min(created, utcnow())


_UNREAD = ""


async def notify_order(
    session: AsyncSession,
    investment: Investment,
    event: str,
    *,
    reason: str | None = None,
    email: str | None = _UNREAD,
) -> None:
    """Tell the order's investor (when they have an e-mail), once per order and event.

    `email`: the investor's address when the caller read it already (None: they have none).
    """
    if email == _UNREAD:
        email = await session.scalar(
            select(Investor.email).where(Investor.id == investment.investor_id)
        )
    if not email:
        return
    fields = {
        "reference": investment.payment_reference,
        "amount": str(investment.amount),
        "currency": investment.currency,
    }
    if reason is not None:
        fields["reason"] = reason
    await notify_investor(
        session, key=f"{event}:inv:{investment.id}", event=event, email=email, fields=fields
    )

"""A verified BillBitts delivery: stored, de-duplicated and applied in one short transaction.

The handler (app/webhooks.py) has checked the signature and parsed the body; here, in the
caller's transaction:
1. the delivery is inserted into `webhook_deliveries`, unique on (provider, event id) with
   ON CONFLICT DO NOTHING: a second delivery of the same event — sequential or concurrent
   (the second insert waits for the first transaction, then conflicts) — changes nothing;
2. the order is locked (FOR UPDATE) and the state machine (dpo.payments.states) decides;
3. the transition, its chain intents (dpo.sender.intents: issuance on paid, refund on a
   refund before issuance) and the investor's notification are written with it.
So the state change, the chain work it needs and the message exist together or not at all,
and the answer goes back as soon as this commits (no provider or chain call inside).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.base import utcnow
from dpo.db.models import Investment, Investor, Offering, WebhookDelivery
from dpo.db.models.enums import InvestmentState, PaymentStatus, WebhookStatus
from dpo.notifications.outbox import notify_investor
from dpo.payments.events import Event, PaymentEvent
from dpo.payments.states import Action, Decision, Outcome, decide, mismatch
from dpo.sender.intents import enqueue_issuance, enqueue_refund
from dpo.services.investments import committed_total

logger = logging.getLogger(__name__)

PROVIDER = "billbitts"
_STATUS = {PaymentEvent.PAID: PaymentStatus.PAID, PaymentEvent.FAILED: PaymentStatus.FAILED,
           PaymentEvent.EXPIRED: PaymentStatus.EXPIRED,
           PaymentEvent.REFUNDED: PaymentStatus.REFUNDED}


@dataclass(frozen=True)
class Received:
    """What became of a delivery."""

    duplicate: bool
    status: str
    reason: str = ""
    investment_id: int | None = None
    changed: bool = False  # an order moved (caches and subscribers are told)


async def receive(session: AsyncSession, event: Event) -> Received:
    """Store the delivery (once per event id) and apply it; no commit."""
    delivery_id = await session.scalar(
        insert(WebhookDelivery)
        .values(provider=PROVIDER, delivery_id=event.id, event_type=event.type,
                payload=event.payload, status=WebhookStatus.RECEIVED.value, attempts=1)
        .on_conflict_do_nothing(index_elements=["provider", "delivery_id"])
        .returning(WebhookDelivery.id))
    if delivery_id is None:
        return Received(duplicate=True, status="duplicate", reason="event already received")
    result = await apply_event(session, event)
    await session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        .values(status=result.status, error=result.reason[:1000] or None,
                processed_at=utcnow()))
    if result.status == WebhookStatus.FAILED.value:
        logger.warning("billbitts event %s (%s) needs ops: %s", event.id, event.type,
                       result.reason)
    return result


async def apply_event(session: AsyncSession, event: Event) -> Received:
    """Lock the order the event names and apply the state machine's decision; no commit.

    Webhook deliveries come here after being stored; the expiry worker brings the event
    BillBitts' status amounts to (dpo.payments.expiry), so both follow one table.
    """
    if event.kind is None or event.payment is None:
        return Received(False, WebhookStatus.IGNORED.value, "event type not handled")
    payment = event.payment
    investment = await session.scalar(
        select(Investment).where(Investment.payment_reference == payment.reference)
        .with_for_update())
    if investment is None:
        return Received(False, WebhookStatus.IGNORED.value, "no order with this reference")
    if investment.payment_id is not None and investment.payment_id != payment.payment_id:
        return _needs_ops(investment, "the event's payment id is not the order's")
    state = InvestmentState(investment.state)
    decision = decide(state, event.kind, cancelled_by_payment=(
        state is InvestmentState.CANCELLED and investment.payment_status in (
            PaymentStatus.FAILED.value, PaymentStatus.EXPIRED.value)))
    if decision.outcome is Outcome.APPLIED and event.kind is PaymentEvent.PAID:
        wrong = mismatch(amount=investment.amount, currency=investment.currency,
                         paid_amount=payment.amount, paid_currency=payment.currency)
        if wrong is not None:
            return _needs_ops(investment, wrong)
        if decision.needs_capacity and not await _room_for(session, investment):
            return _needs_ops(investment, "paid after expiry, but the hard cap is now full")
    if decision.outcome is not Outcome.APPLIED or decision.state is None:
        return Received(False, decision.outcome.value, decision.reason, investment.id)
    await _transition(session, investment, decision, event)
    return Received(False, decision.outcome.value, decision.reason, investment.id, True)


def _needs_ops(investment: Investment, reason: str) -> Received:
    return Received(False, Outcome.NEEDS_OPS.value, reason, investment.id)


async def _room_for(session: AsyncSession, investment: Investment) -> bool:
    offering = await session.scalar(
        select(Offering).where(Offering.id == investment.offering_id).with_for_update())
    if offering is None or offering.hard_cap is None:
        return offering is not None
    committed: Decimal = await committed_total(session, offering.id)
    return committed + investment.amount <= offering.hard_cap


async def _transition(session: AsyncSession, investment: Investment, decision: Decision,
                      event: Event) -> None:
    assert decision.state is not None
    assert event.kind is not None
    assert event.payment is not None
    investment.state = decision.state.value
    investment.payment_status = _STATUS[event.kind].value
    if investment.payment_id is None:
        investment.payment_id = event.payment.payment_id
    if decision.state is InvestmentState.PAID:
        investment.paid_at = _when(event.created)
    await session.flush()
    if decision.action is Action.ISSUE:
        await enqueue_issuance(session, investment)
        await notify_order(session, investment, "payment_confirmed")
    elif decision.action is Action.REFUND:
        await enqueue_refund(session, investment)
    if decision.state is InvestmentState.CANCELLED:
        await notify_order(session, investment, "investment_cancelled", reason=decision.reason)


def _when(created: datetime) -> datetime:
    # BillBitts' clock says when the money arrived; never later than our now.
    return min(created, utcnow())


async def notify_order(session: AsyncSession, investment: Investment, event: str, *,
                       reason: str | None = None) -> None:
    """Tell the order's investor (when they have an e-mail), once per order and event."""
    email = await session.scalar(select(Investor.email).where(
        Investor.id == investment.investor_id))
    if not email:
        return
    fields = {"reference": investment.payment_reference, "amount": str(investment.amount),
              "currency": investment.currency}
    if reason is not None:
        fields["reason"] = reason
    await notify_investor(session, key=f"{event}:inv:{investment.id}", event=event,
                          email=email, fields=fields)

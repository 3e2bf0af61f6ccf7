"""Orders whose payment expired without BillBitts saying so: asked about, then settled.

BillBitts is meant to send `payment.expired`; when it does not (a lost or very late webhook,
an outage on its side), an order would await payment forever and hold its place under the
hard cap. So, once `payment_expires_at` + PAYMENT_EXPIRY_GRACE_SECONDS has passed, the
payment worker asks BillBitts for the request's status (`GET /v1/payment-requests/{id}`)
and applies the event the answer amounts to (dpo.payments.states.after_expiry) through the
webhook's own path (dpo.payments.webhooks.apply_event): the order is locked, the state
machine decides, and the new state, its chain intents and the investor's message commit
together. A payment that was in fact made is therefore issued, never cancelled.

Concurrency with a `paid` webhook: nothing is locked while BillBitts is asked; the decision
is taken under the order's row lock, on the state as it then is. Whichever commits first
wins: a webhook first leaves the order paid and our `expired` is ignored as stale; our
expiry first leaves it cancelled by an expiry, and the webhook's `paid` then revives it
(paid + issue, if the hard cap still has room, else ops), as any paid after an expiry does.

BillBitts unreachable: nothing changes; the order is looked at again after RECHECK_SECONDS
(`payment_check_at`). A request BillBitts still offers (pending) is also cancelled there
(dpo.payments.remote_cancel), so nobody pays an order we closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError as PydanticError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.base import utcnow
from dpo.db.models import Investment
from dpo.db.models.enums import InvestmentState
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError, ProviderMalformed
from dpo.payments.events import Event, PaymentData
from dpo.payments.remote_cancel import owe_cancel
from dpo.payments.requests import LEASE_SECONDS
from dpo.payments.states import after_expiry
from dpo.payments.webhooks import apply_event
from dpo.providers.billbitts import BillBittsClient, Payment

logger = logging.getLogger(__name__)

# BillBitts did not answer: ask about the order again after this long. The circuit breaker
# already spares BillBitts a storm of calls while it is down; this spares the claim.
RECHECK_SECONDS = 60
NEEDS_OPS_RECHECK = 3600

_CLAIM = text(
    "UPDATE investments SET payment_check_at = now() + make_interval(secs => :lease) "
    "WHERE id IN (SELECT id FROM investments WHERE awaiting_payment "
    "AND payment_expires_at IS NOT NULL AND payment_id IS NOT NULL "
    "AND payment_expires_at < now() - make_interval(secs => :grace) "
    "AND (payment_check_at IS NULL OR payment_check_at <= now()) "
    "ORDER BY payment_expires_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING id, payment_id, payment_reference"
)


@dataclass
class Expired:
    """What one pass of the expiry check did."""

    changed: int = 0  # orders moved (cancelled, or paid after all)
    unchanged: int = 0  # already moved by a webhook meanwhile, or not applicable (ops)
    waiting: int = 0  # BillBitts did not answer: asked again later


async def expire_due(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient,
    *,
    grace_seconds: int,
    limit: int = 20,
    lease_seconds: int = LEASE_SECONDS,
) -> Expired:
    """Claim orders past expiry and grace (SKIP LOCKED, with a lease) and settle each."""
    async with unit_of_work(sessions) as session:
        claimed = (
            await session.execute(
                _CLAIM, {"lease": lease_seconds, "grace": grace_seconds, "limit": limit}
            )
        ).all()
    done = Expired()
    for investment_id, payment_id, reference in claimed:
        try:
            payment = await client.payment_status(str(payment_id))
            if payment.reference != reference:
                raise ProviderMalformed("billbitts", "status answer is for another reference")
            event = event_of(payment)
        except ProviderError as error:
            await _later(sessions, int(investment_id), error.message)
            done.waiting += 1
            continue
        if await settle(sessions, int(investment_id), payment, event):
            done.changed += 1
        else:
            done.unchanged += 1
    return done


def event_of(payment: Payment) -> Event:
    """The event BillBitts' status of an expired order amounts to (as if it had sent it)."""
    kind = after_expiry(payment.status).event
    try:
        data = PaymentData(
            payment_id=payment.id,
            reference=payment.reference,
            amount=payment.amount,
            currency=payment.currency,
        )
    except PydanticError:
        raise ProviderMalformed(
            "billbitts", "status answer is not a payment we can apply"
        ) from None
    return Event(
        id=f"status:{payment.id}",
        type=kind.value,
        created=utcnow(),
        payload={},
        kind=kind,
        payment=data,
    )


async def settle(
    sessions: async_sessionmaker[AsyncSession], investment_id: int, payment: Payment, event: Event
) -> bool:
    """Apply `event` (event_of the status) to the expired order; True when it moved."""
    plan = after_expiry(payment.status)
    async with unit_of_work(sessions) as session:
        result = await apply_event(session, event)
        investment = await session.scalar(select(Investment).where(Investment.id == investment_id))
        if investment is not None and result.changed and plan.close_remote:
            owe_cancel(investment)
        elif investment is not None and investment.state == InvestmentState.PENDING_PAYMENT:
            # Not applicable (another amount, another payment id): ops read the reason;
            # asked again only after a while, in case it was put right.
            investment.payment_error = f"after expiry: {result.reason}"[:300]
            investment.payment_check_at = utcnow() + timedelta(seconds=NEEDS_OPS_RECHECK)
    logger.info(
        "investment %d past its payment's expiry; BillBitts says %s: %s (%s)",
        investment_id,
        payment.status,
        result.status,
        result.reason,
    )
    return result.changed


async def _later(
    sessions: async_sessionmaker[AsyncSession], investment_id: int, reason: str
) -> None:
    async with unit_of_work(sessions) as session:
        investment = await session.get(Investment, investment_id, with_for_update=True)
        if investment is None:
            return
        investment.payment_check_at = utcnow() + timedelta(seconds=RECHECK_SECONDS)
        investment.payment_error = f"status at BillBitts: {reason}"[:300]
    logger.warning(
        "investment %d past its payment's expiry, BillBitts not answering: %s",
        investment_id,
        reason,
    )

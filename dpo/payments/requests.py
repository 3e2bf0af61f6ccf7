"""An order's BillBitts payment request: asked for at submit time, and later until it exists.

Decision — BillBitts down at submit time. The order is accepted anyway: `submitInvestment`
commits it (`pending_payment`, reference allocated, cap counted) before BillBitts is called,
then asks for the payment request within SUBMIT_BUDGET seconds. When that works, the answer
already carries the payment page. When it does not (BillBitts down, slow, circuit open), the
answer carries `paymentUrl: null` and the order stays due: the payment request worker (in the
scheduler, like the notification outbox) asks again with backoff until it gets one, then the
investor is sent the page (`investment_received`, with the link) and caches and subscribers
are told. We chose this over refusing the order (the investor would lose their place under
the hard cap to an outage of ours) and over holding the mutation open through the retries
(minutes of a spinning button). The order itself is the outbox row: `payment_id IS NULL AND
awaiting_payment` (state = 'pending_payment', a generated column so that the index does not
name state: issuing an order stays a HOT update), indexed; a separate table would only
duplicate it.

Every call is idempotent at BillBitts (the order's reference is the key), so a call that
timed out after BillBitts acted, two replicas asking at once, or a crash between the answer
and our write cost nothing but a repeat that returns the same request. Nothing is held
open across a call: read, call, then one short transaction that writes only if the order is
still due (a webhook or a cancellation in between wins).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.base import utcnow
from dpo.db.models import Investment, Investor, Offering
from dpo.db.models.enums import InvestmentState, PaymentStatus
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError, ProviderRejected
from dpo.notifications.outbox import notify_investor
from dpo.providers.billbitts import BillBittsClient, Payment, PaymentRequest

logger = logging.getLogger(__name__)

SUBMIT_BUDGET = 5.0  # seconds submitInvestment waits for BillBitts before answering
BACKOFF_FIRST, BACKOFF_MAX = 5.0, 600.0
LEASE_SECONDS = 60  # a claimed order is not claimed again for this long (the default)

_CLAIM = text(
    "UPDATE investments SET payment_next_attempt_at = now() + make_interval(secs => :lease) "
    "WHERE id IN (SELECT id FROM investments WHERE payment_id IS NULL "
    "AND awaiting_payment AND payment_next_attempt_at <= now() "
    "ORDER BY payment_next_attempt_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING id"
)


@dataclass
class Requested:
    """What one pass of the worker did."""

    created: int = 0
    retrying: int = 0


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones (with jitter)."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(attempts - 1, 0))
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not security)


async def _request_of(
    session: AsyncSession, investment_id: int, expiry_seconds: int
) -> PaymentRequest | None:
    row = (
        await session.execute(
            select(Investment, Offering.name)
            .join(Offering, Offering.id == Investment.offering_id)
            .where(
                Investment.id == investment_id,
                Investment.payment_id.is_(None),
                Investment.state == InvestmentState.PENDING_PAYMENT.value,
            )
        )
    ).first()
    if row is None:
        return None
    investment, offering_name = row
    return PaymentRequest(
        reference=investment.payment_reference,
        amount=investment.amount,
        currency=investment.currency,
        description=f"{offering_name}: {investment.units} units"[:200],
        expires_in_seconds=expiry_seconds,
        investment_id=investment.id,
    )


async def request_payment(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient,
    investment_id: int,
    *,
    expiry_seconds: int,
) -> bool:
    """Ask BillBitts for the order's payment request and store it; True when stored.

    A failure is recorded on the order (attempts, next attempt, reason) for the worker.
    """
    async with sessions() as session:
        request = await _request_of(session, investment_id, expiry_seconds)
    if request is None:
        return False
    try:
        payment = await client.create_payment(request)
    except ProviderError as error:
        await _failed(sessions, investment_id, error)
        return False
    except asyncio.CancelledError:
        # The submit budget ran out mid-call: the worker asks again (idempotent).
        await asyncio.shield(_failed(sessions, investment_id, None))
        raise
    return await _store(sessions, investment_id, payment)


async def request_now(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient | None,
    investment_id: int,
    *,
    expiry_seconds: int,
    budget: float = SUBMIT_BUDGET,
) -> None:
    """submitInvestment's attempt: at most `budget` seconds; the worker does the rest."""
    if client is None:
        return
    try:
        await asyncio.wait_for(
            request_payment(sessions, client, investment_id, expiry_seconds=expiry_seconds), budget
        )
    except TimeoutError:
        logger.info(
            "payment request for investment %d left to the worker (no answer in %.0f s)",
            investment_id,
            budget,
        )


async def _store(
    sessions: async_sessionmaker[AsyncSession], investment_id: int, payment: Payment
) -> bool:
    async with unit_of_work(sessions) as session:
        investment = await session.scalar(
            select(Investment).where(Investment.id == investment_id).with_for_update()
        )
        if investment is None or investment.payment_id not in (None, payment.id):
            return False
        if investment.payment_id == payment.id:
            return False  # stored by a webhook or another worker already
        investment.payment_id = payment.id
        investment.payment_url = payment.url
        investment.payment_expires_at = payment.expires_at
        if investment.payment_status is None:
            investment.payment_status = PaymentStatus.PENDING.value
        investment.payment_error = None
        await session.flush()
        email = await session.scalar(
            select(Investor.email).where(Investor.id == investment.investor_id)
        )
        if email and investment.state == InvestmentState.PENDING_PAYMENT.value:
            await notify_investor(
                session,
                key=f"investment_received:inv:{investment.id}",
                event="investment_received",
                email=email,
                fields={
                    "reference": investment.payment_reference,
                    "amount": str(investment.amount),
                    "currency": investment.currency,
                    "paymentUrl": payment.url,
                    "expiresAt": payment.expires_at.isoformat(),
                },
            )
    return True


async def _failed(
    sessions: async_sessionmaker[AsyncSession], investment_id: int, error: ProviderError | None
) -> None:
    reason = "no answer within the submit budget" if error is None else error.message
    async with unit_of_work(sessions) as session:
        investment = await session.scalar(
            select(Investment)
            .where(Investment.id == investment_id, Investment.payment_id.is_(None))
            .with_for_update()
        )
        if investment is None:
            return
        investment.payment_attempts += 1
        # A refusal (our request or key is wrong) will not fix itself soon: wait the longest.
        delay = (
            BACKOFF_MAX
            if isinstance(error, ProviderRejected)
            else backoff(investment.payment_attempts)
        )
        investment.payment_next_attempt_at = utcnow() + timedelta(seconds=delay)
        investment.payment_error = reason[:300]
    logger.warning(
        "payment request for investment %d not made (attempt %d): %s",
        investment_id,
        investment.payment_attempts,
        reason,
    )


async def request_due(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient,
    *,
    expiry_seconds: int,
    limit: int = 20,
    lease_seconds: int = LEASE_SECONDS,
) -> Requested:
    """Claim due orders (SKIP LOCKED, with a lease) and ask for their payment requests."""
    async with unit_of_work(sessions) as session:
        claimed = list(
            (await session.scalars(_CLAIM, {"lease": lease_seconds, "limit": limit})).all()
        )
    done = Requested()
    for investment_id in claimed:
        if await request_payment(
            sessions, client, int(investment_id), expiry_seconds=expiry_seconds
        ):
            done.created += 1
        else:
            done.retrying += 1
    return done

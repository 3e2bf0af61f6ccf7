"""Closing an order's payment page at BillBitts once the order is cancelled here.

Decision — the local cancel never waits for BillBitts. `cancelInvestment` (and the expiry
worker, for a page BillBitts still offers) cancels the order in its own transaction and, in
the same transaction, marks the remote cancel as owed (`payment_cancel_at`). The call follows
after the commit (within CANCEL_BUDGET seconds from the mutation), and when BillBitts is down
the payment worker retries it with backoff until BillBitts answers. We chose this over
refusing the cancel while BillBitts is down (the investor's wish does not depend on our
provider's uptime) and over holding the mutation open through retries.

A cancel is idempotent at BillBitts (a second call returns the same request), so a repeat
after a lost answer or a crash costs nothing. If the investor paid in the meantime, BillBitts
answers with the request's final status (`paid`) and changes nothing; its `paid` webhook then
meets the cancelled order and is kept as `failed` for ops (dpo.payments.states: paid after
the investor cancelled, refund it). Nothing is held open across a call: claim, call, then one
short update of the order's bookkeeping (never its state).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.base import utcnow
from dpo.db.models import Investment
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError
from dpo.payments.requests import LEASE_SECONDS, backoff
from dpo.providers.billbitts import BillBittsClient

logger = logging.getLogger(__name__)

CANCEL_BUDGET = 5.0  # seconds cancelInvestment waits for BillBitts before answering

_CLAIM = text(
    "UPDATE investments SET payment_cancel_at = now() + make_interval(secs => :lease) "
    "WHERE id IN (SELECT id FROM investments WHERE payment_cancel_at <= now() "
    "AND payment_id IS NOT NULL "
    "ORDER BY payment_cancel_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING id, payment_id"
)


@dataclass
class Cancelled:
    """What one pass of the remote cancels did."""

    closed: int = 0
    retrying: int = 0


def owe_cancel(investment: Investment) -> bool:
    """Mark the order's BillBitts request as to be cancelled (caller's transaction).

    False when there is nothing to cancel there (no request was ever made).
    """
    if investment.payment_id is None:
        return False
    investment.payment_cancel_at = utcnow()
    investment.payment_cancel_attempts = 0
    return True


async def cancel_remote(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient,
    investment_id: int,
    payment_id: str,
) -> bool:
    """Cancel one request at BillBitts and record it; True when BillBitts answered."""
    try:
        payment = await client.cancel_payment(payment_id)
    except ProviderError as error:
        await _failed(sessions, investment_id, payment_id, error.message)
        return False
    except asyncio.CancelledError:
        # The mutation's budget ran out mid-call: the worker cancels it again (idempotent).
        await asyncio.shield(
            _failed(sessions, investment_id, payment_id, "no answer within the cancel budget")
        )
        raise
    note = None
    if payment.status != "cancelled":
        # Ended before our call (paid, most likely): its own webhook decides (ops if paid).
        note = f"BillBitts kept the request: already {payment.status}"
        logger.warning(
            "payment request of investment %d not cancelled at BillBitts: %s",
            investment_id,
            payment.status,
        )
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(Investment)
            .where(Investment.id == investment_id, Investment.payment_id == payment_id)
            .values(payment_cancel_at=None, payment_error=note)
        )
    return True


async def cancel_now(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient | None,
    investment_id: int,
    payment_id: str,
    *,
    budget: float = CANCEL_BUDGET,
) -> None:
    """cancelInvestment's attempt: at most `budget` seconds; the worker does the rest."""
    if client is None:
        return
    try:
        await asyncio.wait_for(cancel_remote(sessions, client, investment_id, payment_id), budget)
    except TimeoutError:
        logger.info(
            "remote cancel of investment %d left to the worker (no answer in %.0f s)",
            investment_id,
            budget,
        )


async def _failed(
    sessions: async_sessionmaker[AsyncSession], investment_id: int, payment_id: str, reason: str
) -> None:
    async with unit_of_work(sessions) as session:
        investment = await session.get(Investment, investment_id, with_for_update=True)
        if (
            investment is None
            or investment.payment_id != payment_id
            or (investment.payment_cancel_at is None)
        ):
            return
        investment.payment_cancel_attempts += 1
        delay = backoff(investment.payment_cancel_attempts)
        investment.payment_cancel_at = utcnow() + timedelta(seconds=delay)
        investment.payment_error = f"cancel at BillBitts: {reason}"[:300]
        attempts = investment.payment_cancel_attempts
    logger.warning(
        "payment request of investment %d not cancelled at BillBitts (attempt %d, "
        "next in %.0f s): %s",
        investment_id,
        attempts,
        delay,
        reason,
    )


async def cancel_due(
    sessions: async_sessionmaker[AsyncSession],
    client: BillBittsClient,
    *,
    limit: int = 20,
    lease_seconds: int = LEASE_SECONDS,
) -> Cancelled:
    """Claim owed remote cancels (SKIP LOCKED, with a lease) and make them."""
    async with unit_of_work(sessions) as session:
        claimed = (await session.execute(_CLAIM, {"lease": lease_seconds, "limit": limit})).all()
    done = Cancelled()
    for investment_id, payment_id in claimed:
        if await cancel_remote(sessions, client, int(investment_id), str(payment_id)):
            done.closed += 1
        else:
            done.retrying += 1
    return done

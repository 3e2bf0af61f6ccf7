"""Investments: an investor's orders in offerings, checked against every subscription rule.

The rules an order must meet (amount, window, investor) are dpo.services.subscription_rules.
Decisions:
- The hard cap counts every live order (pending payment, paid, issued). The offering row is
  locked FOR UPDATE while checking and inserting, so concurrent orders queue and can never
  commit a total above the cap together.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.base import utcnow
from dpo.db.models import Investment, Investor, Offering
from dpo.db.models.enums import (
    InvestmentState,
    OfferingStatus,
    Role,
)
from dpo.errors import ConflictError, ForbiddenError, NotFoundError
from dpo.services import audit
from dpo.services import subscription_rules as rules
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate
from dpo.services.policy import STAFF_READERS, require_authenticated

logger = logging.getLogger(__name__)

LIVE_STATES = (InvestmentState.PENDING_PAYMENT, InvestmentState.PAID, InvestmentState.ISSUED)
# Crockford's base32: no I, L, O or U, so a reference read out on the phone is unambiguous.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def snapshot(investment: Investment) -> dict[str, Any]:
    """The audit-log form of an investment."""
    return {
        "investor_id": investment.investor_id,
        "offering_id": investment.offering_id,
        "amount": str(investment.amount),
        "currency": investment.currency,
        "units": str(investment.units),
        "state": investment.state,
        "payment_reference": investment.payment_reference,
    }


def new_payment_reference() -> str:
    """A random reference like DPO-7K3M-Q9XA (40 bits) for bank transfers."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"DPO-{chars[:4]}-{chars[4:]}"


async def _unique_payment_reference(session: AsyncSession) -> str:
    for _ in range(5):
        reference = new_payment_reference()
        taken = await session.scalar(
            select(Investment.id).where(Investment.payment_reference == reference)
        )
        if taken is None:
            return reference
    raise ConflictError(
        "could not allocate a payment reference; try again", reason="reference_exhausted"
    )


async def committed_total(session: AsyncSession, offering_id: int) -> Decimal:
    """The sum of the offering's live orders."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Investment.amount), 0)).where(
            Investment.offering_id == offering_id,
            Investment.state.in_([state.value for state in LIVE_STATES]),
        )
    )
    return Decimal(total or 0)


async def submit_investment(
    session: AsyncSession,
    *,
    principal: Principal,
    offering_id: int,
    amount: Decimal,
    currency: str,
    now: datetime | None = None,
) -> Investment:
    """Place an order for the calling investor, or refuse it with the rule it breaks."""
    require_authenticated(principal)
    if principal.investor_id is None:
        raise ForbiddenError("register as an investor first", reason="not_registered")
    now = now or utcnow()
    # The lock serialises orders in one offering, so the cap check below stays true to commit.
    offering = await session.scalar(
        select(Offering).where(Offering.id == offering_id).with_for_update()
    )
    if offering is None or offering.status == OfferingStatus.DRAFT:
        raise NotFoundError("no such offering", id=offering_id)
    rules.check_window(offering, now)
    units = rules.check_amount(offering, amount, currency.strip().upper())
    investor = await session.get(Investor, principal.investor_id)
    if investor is None:
        raise ForbiddenError("register as an investor first", reason="not_registered")
    rules.check_investor(investor, offering, now)
    if offering.hard_cap is not None:
        committed = await committed_total(session, offering.id)
        if committed + amount > offering.hard_cap:
            raise ConflictError(
                "this order would exceed the offering's hard cap",
                reason="hard_cap_exceeded",
                available=str(max(offering.hard_cap - committed, Decimal(0))),
            )
    investment = Investment(
        investor_id=investor.id,
        offering_id=offering.id,
        amount=amount,
        currency=offering.currency,
        units=units,
        state=InvestmentState.PENDING_PAYMENT.value,
        payment_reference=await _unique_payment_reference(session),
    )
    session.add(investment)
    await session.flush()
    await session.refresh(investment)
    await audit.record(
        session,
        principal=principal,
        action="investment.submit",
        entity_type="investment",
        entity_id=str(investment.id),
        before=None,
        after=snapshot(investment),
    )
    return investment


async def cancel_investment(
    session: AsyncSession, *, principal: Principal, investment_id: int
) -> Investment:
    """Cancel the caller's own order while it still awaits payment."""
    require_authenticated(principal)
    investment = await session.scalar(
        select(Investment).where(Investment.id == investment_id).with_for_update()
    )
    if (
        investment is None
        or principal.investor_id is None
        or (investment.investor_id != principal.investor_id)
    ):
        raise ForbiddenError("you may only cancel your own orders", reason="not_yours")
    if investment.state != InvestmentState.PENDING_PAYMENT:
        raise ConflictError(
            "only an order awaiting payment can be cancelled",
            reason="not_pending_payment",
            state=investment.state,
        )
    before = snapshot(investment)
    investment.state = InvestmentState.CANCELLED.value
    await session.flush()
    await audit.record(
        session,
        principal=principal,
        action="investment.cancel",
        entity_type="investment",
        entity_id=str(investment.id),
        before=before,
        after=snapshot(investment),
    )
    return investment


def _visible(principal: Principal) -> Any:
    """The WHERE clause limiting investments to what the caller may see."""
    if principal.role in STAFF_READERS:
        return None
    if principal.role == Role.ISSUER.value and principal.issuer_id is not None:
        return Investment.offering_id.in_(
            select(Offering.id).where(Offering.issuer_id == principal.issuer_id)
        )
    if principal.investor_id is not None:
        return Investment.investor_id == principal.investor_id
    raise ForbiddenError("you may not see investments", reason="not_allowed")


async def get_investment(
    session: AsyncSession, *, principal: Principal, investment_id: int
) -> Investment:
    """One order the caller may see."""
    require_authenticated(principal)
    query = select(Investment).where(Investment.id == investment_id)
    clause = _visible(principal)
    if clause is not None:
        query = query.where(clause)
    investment = await session.scalar(query)
    if investment is None:
        if clause is None:
            raise NotFoundError("no such investment", id=investment_id)
        raise ForbiddenError("you may not see this investment", reason="not_yours")
    return investment


BY_ID = Ordering("investments_by_id", (SortKey(Investment.id.expression),))


def investments_statement(
    *,
    principal: Principal,
    offering_id: int | None = None,
    investor_id: int | None = None,
    state: InvestmentState | None = None,
    tx_hash: str | None = None,
) -> Select[Investment]:
    """The orders the caller may see: investors their own, issuers their offerings', staff all."""
    require_authenticated(principal)
    query = select(Investment)
    clause = _visible(principal)
    if clause is not None:
        query = query.where(clause)
    if offering_id is not None:
        query = query.where(Investment.offering_id == offering_id)
    if investor_id is not None:
        query = query.where(Investment.investor_id == investor_id)
    if state is not None:
        query = query.where(Investment.state == state.value)
    if tx_hash is not None:
        query = query.where(Investment.tx_hash == tx_hash.lower())
    return query


async def list_investments(
    session: AsyncSession,
    *,
    principal: Principal,
    offering_id: int | None = None,
    investor_id: int | None = None,
    state: InvestmentState | None = None,
    tx_hash: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """A page of the orders the caller may see, in id order."""
    statement = investments_statement(
        principal=principal,
        offering_id=offering_id,
        investor_id=investor_id,
        state=state,
        tx_hash=tx_hash,
    )
    return await paginate(
        session, statement, ordering=BY_ID, first=first, after=after, last=last, before=before
    )


async def count_investments(
    session: AsyncSession,
    *,
    principal: Principal,
    offering_id: int | None = None,
    investor_id: int | None = None,
    state: InvestmentState | None = None,
    tx_hash: str | None = None,
) -> int:
    """How many orders list_investments would page through."""
    return await count(
        session,
        investments_statement(
            principal=principal,
            offering_id=offering_id,
            investor_id=investor_id,
            state=state,
            tx_hash=tx_hash,
        ),
    )

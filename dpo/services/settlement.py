"""When a closed offering may become settled: every order it kept was issued on chain.

Rules, each refused with ConflictError and a `reason`:
- not_linked: the offering has no on-chain twin (token address and on-chain offering id);
- unissued_investments: an order still awaits payment or issuance (pending_payment, paid),
  so it must be issued, cancelled or refunded first;
- unmatched_investments: an issued order lacks its on-chain reference, transaction hash or
  issuance time, so the chain cannot vouch for it;
- nothing_issued: no order was issued; such an offering is cancelled, not settled;
- units_mismatch: the units of the issued orders differ from the units the chain sold.
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import Investment, Offering
from dpo.db.models.enums import InvestmentState
from dpo.errors import ConflictError

UNSETTLED_STATES = (InvestmentState.PENDING_PAYMENT, InvestmentState.PAID)


async def check_settlement(session: AsyncSession, offering: Offering) -> None:
    """Raise ConflictError unless the offering's orders all match on-chain issuance."""
    if offering.onchain_offering_id is None or offering.token_address is None:
        raise ConflictError(
            "the offering is not linked to its on-chain offering", reason="not_linked"
        )
    issued = Investment.state == InvestmentState.ISSUED
    unmatched = and_(
        issued,
        or_(
            Investment.onchain_reference.is_(None),
            Investment.tx_hash.is_(None),
            Investment.issued_at.is_(None),
        ),
    )
    row = (
        await session.execute(
            select(
                func.count().filter(Investment.state.in_(UNSETTLED_STATES)),
                func.count().filter(issued),
                func.count().filter(unmatched),
                func.coalesce(func.sum(Investment.units).filter(issued), 0),
            ).where(Investment.offering_id == offering.id)
        )
    ).one()
    unsettled, issued_count, unmatched_count, issued_units = (int(value) for value in row)
    if unsettled:
        raise ConflictError(
            f"{unsettled} investment(s) are not issued, cancelled or refunded",
            reason="unissued_investments",
            count=unsettled,
        )
    if unmatched_count:
        raise ConflictError(
            f"{unmatched_count} issued investment(s) lack their on-chain reference or transaction",
            reason="unmatched_investments",
            count=unmatched_count,
        )
    if not issued_count:
        raise ConflictError(
            "nothing was issued; cancel the offering instead", reason="nothing_issued"
        )
    if issued_units != offering.units_sold:
        raise ConflictError(
            "issued units differ from the units sold on chain",
            reason="units_mismatch",
            issued_units=str(issued_units),
            units_sold=str(offering.units_sold),
        )

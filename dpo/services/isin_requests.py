"""ISINs for offerings that have none, from Clearstream's primary-market issuance desk (PMI).

Each draft offering without an ISIN gets a request keyed `DPO-OFFERING-<id>`, which PMI
de-duplicates: a rerun (after a crash between PMI's answer and our commit, or while the
request is pending) asks again with the same key and gets the same answer, never a second
ISIN. An allocated ISIN is written onto the offering in the same transaction as the
request's status; a rejection is kept with its reason and not asked again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import IsinRequest as IsinRequestRow
from dpo.db.models import Issuer, Offering
from dpo.db.models.enums import OfferingStatus
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError
from dpo.providers.clearstream import Clearstream, IsinAllocation, IsinRequest

logger = logging.getLogger(__name__)


@dataclass
class IsinRequestResult:
    """Requests sent, ISINs allocated, still pending, rejected; errors by offering id."""

    asked: int = 0
    allocated: int = 0
    pending: int = 0
    rejected: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def reference(offering_id: int) -> str:
    """Our request reference for an offering (what PMI de-duplicates on)."""
    return f"DPO-OFFERING-{offering_id}"


async def _waiting(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Offering, Issuer]]:
    async with sessions() as session:
        rejected = select(IsinRequestRow.offering_id).where(IsinRequestRow.status == "rejected")
        rows = (
            await session.execute(
                select(Offering, Issuer)
                .join(Issuer, Issuer.id == Offering.issuer_id)
                .where(
                    Offering.isin.is_(None),
                    Offering.status == OfferingStatus.DRAFT.value,
                    Offering.id.not_in(rejected),
                )
                .order_by(Offering.id)
            )
        ).all()
    return [(offering, issuer) for offering, issuer in rows]


async def _record(session: AsyncSession, offering_id: int, answer: IsinAllocation) -> str:
    row = await session.scalar(
        select(IsinRequestRow).where(IsinRequestRow.offering_id == offering_id).with_for_update()
    )
    if row is None:
        row = IsinRequestRow(offering_id=offering_id, request_ref=answer.request_ref)
        session.add(row)
    row.status, row.isin, row.reason = answer.status.lower(), answer.isin, answer.reason
    if answer.isin is not None:
        offering = await session.get(Offering, offering_id, with_for_update=True)
        taken = await session.scalar(select(Offering.id).where(Offering.isin == answer.isin))
        if offering is None or offering.isin is not None:
            return "unchanged"
        if taken is not None:
            raise ValueError(f"allocated ISIN already belongs to offering {taken}")
        offering.isin = answer.isin
    return row.status


async def request_isins(
    sessions: async_sessionmaker[AsyncSession], pmi: Clearstream
) -> IsinRequestResult:
    """Ask PMI for an ISIN for every draft offering without one; one transaction each."""
    result = IsinRequestResult()
    for offering, issuer in await _waiting(sessions):
        request = IsinRequest(
            request_ref=reference(offering.id),
            issuer_name=issuer.name,
            instrument_name=offering.name,
            currency=offering.currency,
            security_type=offering.security_type,
            issuer_lei=issuer.lei,
        )
        result.asked += 1
        try:
            answer = await pmi.request_isin(request)
            async with unit_of_work(sessions) as session:
                status = await _record(session, offering.id, answer)
        except (ProviderError, ValueError) as error:
            text = (
                f"{error.code.value}: {error.message}"
                if isinstance(error, ProviderError)
                else f"CONFLICT: {error}"
            )
            result.errors[str(offering.id)] = text
            logger.warning("isin request for offering %d failed: %s", offering.id, text)
            if isinstance(error, ProviderError) and error.code.value == "PROVIDER_UNAVAILABLE":
                break  # the desk is down (or its circuit open): the next run asks again
            continue
        if status == "allocated":
            result.allocated += 1
        elif status == "pending":
            result.pending += 1
        elif status == "rejected":
            result.rejected += 1
    return result

"""Investors read: one by id, the caller's own, lists and counts, wallets in batches.

Who may read whom is decided here: an investor sees only themself, issuer staff the
investors with an order in one of their offerings, staff readers everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import Investment, Investor, InvestorWallet, Offering
from dpo.db.models.enums import KycStatus, Role
from dpo.errors import (
    ForbiddenError,
    NotFoundError,
)
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate
from dpo.services.policy import STAFF_READERS, require_authenticated


async def load_investor(session: AsyncSession, investor_id: int, *, lock: bool = False) -> Investor:
    query = select(Investor).where(Investor.id == investor_id)
    if lock:
        query = query.with_for_update()
    investor = await session.scalar(query)
    if investor is None:
        raise NotFoundError("no such investor", id=investor_id)
    return investor


def _issuer_investors(issuer_id: int) -> Any:
    """Whether the investor has an order in one of the issuer's offerings (a correlated EXISTS)."""
    return exists().where(
        Investment.investor_id == Investor.id,
        Investment.offering_id == Offering.id,
        Offering.issuer_id == issuer_id,
    )


async def get_investor(
    session: AsyncSession, *, principal: Principal, investor_id: int
) -> Investor:
    """One investor: the caller themself, an issuer's own investors, or anyone for staff."""
    require_authenticated(principal)
    if principal.role in STAFF_READERS or principal.investor_id == investor_id:
        return await load_investor(session, investor_id)
    if principal.role == Role.ISSUER.value and principal.issuer_id is not None:
        found = await session.scalar(
            select(Investor).where(
                Investor.id == investor_id, _issuer_investors(principal.issuer_id)
            )
        )
        if found is not None:
            return found
    # Same answer whether or not the id exists, so ids cannot be probed.
    raise ForbiddenError("you may not see this investor", reason="not_yours")


async def list_wallets_by_investor_ids(
    session: AsyncSession, *, investor_ids: Sequence[int]
) -> dict[int, list[str]]:
    """Each investor's wallet addresses in registration order, for batch loading."""
    rows = await session.execute(
        select(InvestorWallet.investor_id, InvestorWallet.address)
        .where(InvestorWallet.investor_id.in_(investor_ids))
        .order_by(InvestorWallet.id)
    )
    found: dict[int, list[str]] = {investor_id: [] for investor_id in investor_ids}
    for investor_id, address in rows:
        found[investor_id].append(address)
    return found


async def get_me(session: AsyncSession, *, principal: Principal) -> Investor | None:
    """The caller's own investor profile, or None when the caller is not an investor."""
    require_authenticated(principal)
    if principal.investor_id is None:
        return None
    return await session.get(Investor, principal.investor_id)


BY_ID = Ordering("investors_by_id", (SortKey(Investor.id.expression),))


def investors_statement(
    *, principal: Principal, kyc_status: KycStatus | None = None
) -> Select[Investor]:
    """The investors the caller may list: all for admin/ops, an issuer's own, else oneself."""
    require_authenticated(principal)
    query = select(Investor)
    if principal.role in STAFF_READERS:
        pass
    elif principal.role == Role.ISSUER.value and principal.issuer_id is not None:
        query = query.where(_issuer_investors(principal.issuer_id))
    elif principal.investor_id is not None:
        query = query.where(Investor.id == principal.investor_id)
    else:
        raise ForbiddenError("you may not list investors", reason="not_allowed")
    if kyc_status is not None:
        query = query.where(Investor.kyc_status == kyc_status.value)
    return query


async def list_investors(
    session: AsyncSession,
    *,
    principal: Principal,
    kyc_status: KycStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """A page of the investors the caller may see, in id order."""
    statement = investors_statement(principal=principal, kyc_status=kyc_status)
    return await paginate(
        session, statement, ordering=BY_ID, first=first, after=after, last=last, before=before
    )


async def count_investors(
    session: AsyncSession, *, principal: Principal, kyc_status: KycStatus | None = None
) -> int:
    """How many investors list_investors would page through."""
    return await count(session, investors_statement(principal=principal, kyc_status=kyc_status))

"""Investors: self-registration by wallet, profiles, KYC and accreditation decisions.

What a profile field must look like and which KYC decision may follow which are
dpo.services.investor_rules (pure).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Kind, Principal
from dpo.db.base import utcnow
from dpo.db.models import Investment, Investor, InvestorWallet, Offering
from dpo.db.models.enums import AccreditationStatus, KycStatus, Role
from dpo.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from dpo.services import audit
from dpo.services import investor_rules as rules
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate
from dpo.services.policy import ADMIN, STAFF_READERS, require_authenticated, require_role

logger = logging.getLogger(__name__)



def snapshot(investor: Investor) -> dict[str, Any]:
    """The audit-log form of an investor."""
    expires = investor.accreditation_expires_at
    return {
        "full_name": investor.full_name,
        "email": investor.email,
        "country": investor.country,
        "is_us_person": investor.is_us_person,
        "kyc_status": investor.kyc_status,
        "accreditation_status": investor.accreditation_status,
        "accreditation_expires_at": expires.isoformat() if expires else None,
    }


async def _load(session: AsyncSession, investor_id: int, *, lock: bool = False) -> Investor:
    query = select(Investor).where(Investor.id == investor_id)
    if lock:
        query = query.with_for_update()
    investor = await session.scalar(query)
    if investor is None:
        raise NotFoundError("no such investor", id=investor_id)
    return investor


async def register_investor(
    session: AsyncSession,
    *,
    principal: Principal,
    full_name: str,
    email: str,
    country: str,
    is_us_person: bool,
    chain_id: int,
) -> Investor:
    """Create the investor behind a signed-in wallet, with that wallet verified."""
    require_authenticated(principal)
    if principal.kind is not Kind.WALLET or principal.address is None:
        raise ForbiddenError("sign in with your wallet to register", reason="wallet_required")
    if principal.investor_id is not None:
        raise ConflictError("this wallet is registered already", reason="already_registered")
    name, address = rules.clean_name(full_name), principal.address
    clean_email, clean_country = rules.clean_email(email), rules.clean_country(country)
    taken = await session.scalar(
        select(InvestorWallet.id).where(func.lower(InvestorWallet.address) == address.lower())
    )
    if taken is not None:
        raise ConflictError("this wallet is registered already", reason="already_registered")
    investor = Investor(full_name=name, email=clean_email, country=clean_country,
                        is_us_person=is_us_person, kyc_status=KycStatus.PENDING.value,
                        accreditation_status=AccreditationStatus.NONE.value)
    try:
        async with session.begin_nested():
            session.add(investor)
            await session.flush()
            session.add(InvestorWallet(investor_id=investor.id, address=address,
                                       chain_id=chain_id, verified_at=utcnow()))
            await session.flush()
    except IntegrityError:
        # A concurrent registration of the same wallet committed first.
        raise ConflictError("this wallet is registered already",
                            reason="already_registered") from None
    await session.refresh(investor)
    await audit.record(session, principal=principal, action="investor.register",
                       entity_type="investor", entity_id=str(investor.id), before=None,
                       after={**snapshot(investor), "wallet": address})
    return investor


async def update_profile(
    session: AsyncSession,
    *,
    principal: Principal,
    full_name: str | None = None,
    email: str | None = None,
    country: str | None = None,
    is_us_person: bool | None = None,
) -> Investor:
    """Change the caller's own profile; a new name, country or US-person flag reopens KYC.

    KYC vouched for who the investor is: an approved investor renamed to anyone else must not
    stay approved, so a real change of name (not of spacing) puts KYC back to pending review,
    as a new residence or US status does. The e-mail is contact data and is not unique (the
    answer never tells whether another investor has it).
    """
    require_authenticated(principal)
    if principal.investor_id is None:
        raise ForbiddenError("register as an investor first", reason="not_registered")
    investor = await _load(session, principal.investor_id, lock=True)
    before = snapshot(investor)
    rescreen = False
    if full_name is not None:
        clean_name = rules.clean_name(full_name)
        rescreen |= clean_name != investor.full_name
        investor.full_name = clean_name
    if email is not None:
        investor.email = rules.clean_email(email)
    if country is not None:
        clean_country = rules.clean_country(country)
        rescreen |= clean_country != investor.country
        investor.country = clean_country
    if is_us_person is not None:
        rescreen |= is_us_person != investor.is_us_person
        investor.is_us_person = is_us_person
    if rescreen and investor.kyc_status != KycStatus.PENDING:
        investor.kyc_status = KycStatus.PENDING.value
        investor.kyc_updated_at = utcnow()
    after = snapshot(investor)
    if after != before:
        await session.flush()
        await audit.record(session, principal=principal, action="investor.update_profile",
                           entity_type="investor", entity_id=str(investor.id),
                           before=before, after=after)
    return investor


def _issuer_investors(issuer_id: int) -> Any:
    """Whether the investor has an order in one of the issuer's offerings (a correlated EXISTS)."""
    return exists().where(
        Investment.investor_id == Investor.id,
        Investment.offering_id == Offering.id,
        Offering.issuer_id == issuer_id,
    )


async def get_investor(session: AsyncSession, *, principal: Principal,
                       investor_id: int) -> Investor:
    """One investor: the caller themself, an issuer's own investors, or anyone for staff."""
    require_authenticated(principal)
    if principal.role in STAFF_READERS or principal.investor_id == investor_id:
        return await _load(session, investor_id)
    if principal.role == Role.ISSUER.value and principal.issuer_id is not None:
        found = await session.scalar(
            select(Investor).where(Investor.id == investor_id,
                                   _issuer_investors(principal.issuer_id))
        )
        if found is not None:
            return found
    # Same answer whether or not the id exists, so ids cannot be probed.
    raise ForbiddenError("you may not see this investor", reason="not_yours")


async def list_wallets_by_investor_ids(session: AsyncSession, *, investor_ids: Sequence[int]
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


def investors_statement(*, principal: Principal,
                        kyc_status: KycStatus | None = None) -> Select[Investor]:
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


async def list_investors(session: AsyncSession, *, principal: Principal,
                         kyc_status: KycStatus | None = None, first: int | None = None,
                         after: str | None = None, last: int | None = None,
                         before: str | None = None) -> Page:
    """A page of the investors the caller may see, in id order."""
    statement = investors_statement(principal=principal, kyc_status=kyc_status)
    return await paginate(session, statement, ordering=BY_ID, first=first, after=after,
                          last=last, before=before)


async def count_investors(session: AsyncSession, *, principal: Principal,
                          kyc_status: KycStatus | None = None) -> int:
    """How many investors list_investors would page through."""
    return await count(session, investors_statement(principal=principal, kyc_status=kyc_status))


async def approve_kyc(session: AsyncSession, *, principal: Principal, investor_id: int,
                      status: KycStatus = KycStatus.APPROVED) -> Investor:
    """Record a KYC decision (admin only), following the KYC state machine."""
    require_role(principal, ADMIN)
    investor = await _load(session, investor_id, lock=True)
    allowed = rules.KYC_TRANSITIONS[KycStatus(investor.kyc_status)]
    if status not in allowed:
        raise ConflictError(f"KYC cannot go from {investor.kyc_status} to {status.value}",
                            reason="invalid_transition", current=investor.kyc_status)
    before = snapshot(investor)
    investor.kyc_status = status.value
    investor.kyc_updated_at = utcnow()
    await session.flush()
    await audit.record(session, principal=principal, action="investor.kyc",
                       entity_type="investor", entity_id=str(investor.id),
                       before=before, after=snapshot(investor))
    return investor


async def set_accreditation(session: AsyncSession, *, principal: Principal, investor_id: int,
                            status: AccreditationStatus,
                            expires_at: datetime | None = None) -> Investor:
    """Record an accreditation outcome (admin only); a verified one needs a future expiry."""
    require_role(principal, ADMIN)
    if status is AccreditationStatus.VERIFIED:
        if expires_at is None or expires_at.tzinfo is None:
            raise ValidationError("a verified accreditation needs a UTC expiry time",
                                  field="expiresAt")
        if expires_at <= utcnow():
            raise ValidationError("the expiry time is in the past", field="expiresAt")
    elif expires_at is not None:
        raise ValidationError("only a verified accreditation has an expiry time",
                              field="expiresAt")
    investor = await _load(session, investor_id, lock=True)
    before = snapshot(investor)
    investor.accreditation_status = status.value
    investor.accreditation_expires_at = expires_at
    await session.flush()
    await audit.record(session, principal=principal, action="investor.accreditation",
                       entity_type="investor", entity_id=str(investor.id),
                       before=before, after=snapshot(investor))
    return investor

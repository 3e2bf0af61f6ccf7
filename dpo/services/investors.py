"""Investors: self-registration by wallet, profiles, KYC and accreditation decisions.

What a profile field must look like and which KYC decision may follow which are
dpo.services.investor_rules (pure); the reads are dpo.services.investor_queries.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Kind, Principal
from dpo.db.base import utcnow
from dpo.db.models import Investor, InvestorWallet
from dpo.db.models.enums import AccreditationStatus, KycStatus
from dpo.errors import (
    ConflictError,
    ForbiddenError,
    ValidationError,
)
from dpo.services import audit
from dpo.services import investor_rules as rules
from dpo.services.investor_queries import load_investor
from dpo.services.policy import ADMIN, require_authenticated, require_role

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
    investor = Investor(
        full_name=name,
        email=clean_email,
        country=clean_country,
        is_us_person=is_us_person,
        kyc_status=KycStatus.PENDING.value,
        accreditation_status=AccreditationStatus.NONE.value,
    )
    try:
        async with session.begin_nested():
            session.add(investor)
            await session.flush()
            session.add(
                InvestorWallet(
                    investor_id=investor.id,
                    address=address,
                    chain_id=chain_id,
                    verified_at=utcnow(),
                )
            )
            await session.flush()
    except IntegrityError:
        # A concurrent registration of the same wallet committed first.
        raise ConflictError(
            "this wallet is registered already", reason="already_registered"
        ) from None
    await session.refresh(investor)
    await audit.record(
        session,
        principal=principal,
        action="investor.register",
        entity_type="investor",
        entity_id=str(investor.id),
        before=None,
        after={**snapshot(investor), "wallet": address},
    )
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
    investor = await load_investor(session, principal.investor_id, lock=True)
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
        await audit.record(
            session,
            principal=principal,
            action="investor.update_profile",
            entity_type="investor",
            entity_id=str(investor.id),
            before=before,
            after=after,
        )
    return investor


async def approve_kyc(
    session: AsyncSession,
    *,
    principal: Principal,
    investor_id: int,
    status: KycStatus = KycStatus.APPROVED,
) -> Investor:
    """Record a KYC decision (admin only), following the KYC state machine."""
    require_role(principal, ADMIN)
    investor = await load_investor(session, investor_id, lock=True)
    allowed = rules.KYC_TRANSITIONS[KycStatus(investor.kyc_status)]
    if status not in allowed:
        raise ConflictError(
            f"KYC cannot go from {investor.kyc_status} to {status.value}",
            reason="invalid_transition",
            current=investor.kyc_status,
        )
    before = snapshot(investor)
    investor.kyc_status = status.value
    investor.kyc_updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        principal=principal,
        action="investor.kyc",
        entity_type="investor",
        entity_id=str(investor.id),
        before=before,
        after=snapshot(investor),
    )
    return investor


async def set_accreditation(
    session: AsyncSession,
    *,
    principal: Principal,
    investor_id: int,
    status: AccreditationStatus,
    expires_at: datetime | None = None,
) -> Investor:
    """Record an accreditation outcome (admin only); a verified one needs a future expiry."""
    require_role(principal, ADMIN)
    if status is AccreditationStatus.VERIFIED:
        if expires_at is None or expires_at.tzinfo is None:
            raise ValidationError(
                "a verified accreditation needs a UTC expiry time", field="expiresAt"
            )
        if expires_at <= utcnow():
            raise ValidationError("the expiry time is in the past", field="expiresAt")
    elif expires_at is not None:
        raise ValidationError("only a verified accreditation has an expiry time", field="expiresAt")
    investor = await load_investor(session, investor_id, lock=True)
    before = snapshot(investor)
    investor.accreditation_status = status.value
    investor.accreditation_expires_at = expires_at
    await session.flush()
    await audit.record(
        session,
        principal=principal,
        action="investor.accreditation",
        entity_type="investor",
        entity_id=str(investor.id),
        before=before,
        after=snapshot(investor),
    )
    return investor

"""Registration, profiles, KYC and accreditation, and who may read or change them."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.db.models import AuditLog, Investor, InvestorWallet
from dpo.db.models.enums import AccreditationStatus, KycStatus
from dpo.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from dpo.services import investments, investors
from dpo.services import investor_queries as queries
from tests.integration.services.support import (
    CHAIN_ID,
    address,
    admin,
    audit_rows,
    issuer_staff,
    make_investor,
    make_offering,
    now,
    ops,
    wallet,
)


async def _register(
    db: AsyncSession, principal: Principal, email: str = "grace@example.com", country: str = "us"
) -> Investor:
    return await investors.register_investor(
        db,
        principal=principal,
        full_name=" Grace Hopper ",
        email=email,
        country=country,
        is_us_person=True,
        chain_id=CHAIN_ID,
    )


async def test_register_creates_investor_and_verified_wallet(db: AsyncSession) -> None:
    addr = address()
    investor = await _register(db, wallet(addr))
    assert investor.full_name == "Grace Hopper"
    assert investor.country == "US"
    assert investor.kyc_status == "pending"
    found = await db.scalar(select(InvestorWallet).where(InvestorWallet.address == addr))
    assert found is not None
    assert found.investor_id == investor.id
    assert found.verified_at is not None
    [row] = await audit_rows(db, "investor", investor.id)
    assert row.action == "investor.register"
    assert row.after is not None
    assert row.after["wallet"] == addr


async def test_register_refusals(db: AsyncSession) -> None:
    addr = address()
    await _register(db, wallet(addr), email="dup@example.com")
    count = await db.scalar(select(func.count()).select_from(Investor))
    with pytest.raises(ConflictError):  # the same wallet again, before its token knows it
        await _register(db, wallet(addr), email="other@example.com")
    # E-mails are contact data, not unique: the answer never tells whether one is taken.
    await _register(db, wallet(address()), email="DUP@example.com")
    with pytest.raises(ConflictError):
        await _register(db, wallet(address(), investor_id=1))
    with pytest.raises(UnauthenticatedError):
        await _register(db, ANONYMOUS)
    with pytest.raises(ForbiddenError):
        await _register(db, admin())
    with pytest.raises(ValidationError):
        await _register(db, wallet(address()), email="not-an-email")
    with pytest.raises(ValidationError):
        await _register(db, wallet(address()), country="USA")
    assert await db.scalar(select(func.count()).select_from(Investor)) == (count or 0) + 1


async def test_update_own_profile_reopens_kyc_on_country_change(db: AsyncSession) -> None:
    investor, me = await make_investor(db)
    await investors.update_profile(db, principal=me, full_name=" " + investor.full_name)
    assert investor.kyc_status == "approved"  # the same name: nothing changed
    # KYC vouched for the name: a new one goes back to review (issue 9).
    await investors.update_profile(db, principal=me, full_name="Ada King")
    assert investor.kyc_status == "pending"
    await investors.update_profile(db, principal=me, country="FR")
    assert investor.country == "FR"
    assert investor.kyc_status == "pending"
    actions = [row.action for row in await audit_rows(db, "investor", investor.id)]
    assert actions == ["investor.update_profile", "investor.update_profile"]
    other, _ = await make_investor(db)
    assert other.email is not None
    await investors.update_profile(db, principal=me, email=other.email.upper())
    assert investor.email == other.email.upper()  # shared e-mails are allowed
    with pytest.raises(ValidationError):
        await investors.update_profile(db, principal=me, country="France")
    with pytest.raises(ForbiddenError):
        await investors.update_profile(db, principal=admin(), full_name="X")
    with pytest.raises(ForbiddenError):
        await investors.update_profile(db, principal=wallet(address()), full_name="X")


async def test_reading_investors_per_role(db: AsyncSession) -> None:
    alice, alice_p = await make_investor(db)
    bob, bob_p = await make_investor(db)
    offering = await make_offering(db)
    await investments.submit_investment(
        db, principal=alice_p, offering_id=offering.id, amount=Decimal("100"), currency="USD"
    )
    issuer = issuer_staff(offering.issuer_id)
    # Self
    assert (await queries.get_investor(db, principal=alice_p, investor_id=alice.id)) is alice
    own = await queries.list_investors(db, principal=alice_p)
    assert [i.id for i in own.rows] == [alice.id]
    me = await queries.get_me(db, principal=alice_p)
    assert me is not None
    assert me.id == alice.id
    assert await queries.get_me(db, principal=wallet(address())) is None
    # Another investor: refused whether or not the id exists.
    for target in (bob.id, 10**12):
        with pytest.raises(ForbiddenError):
            await queries.get_investor(db, principal=alice_p, investor_id=target)
    # Issuer: only investors with orders in its offerings.
    assert (await queries.get_investor(db, principal=issuer, investor_id=alice.id)) is alice
    with pytest.raises(ForbiddenError):
        await queries.get_investor(db, principal=issuer, investor_id=bob.id)
    theirs = await queries.list_investors(db, principal=issuer)
    assert [i.id for i in theirs.rows] == [alice.id]
    assert await queries.count_investors(db, principal=issuer) == 1
    # Staff: everyone.
    listed = {i.id for i in (await queries.list_investors(db, principal=ops(), first=100)).rows}
    assert {alice.id, bob.id} <= listed
    with pytest.raises(NotFoundError):
        await queries.get_investor(db, principal=admin(), investor_id=10**12)
    with pytest.raises(UnauthenticatedError):
        await queries.list_investors(db, principal=ANONYMOUS)
    unregistered = Principal(kind=Kind.WALLET, role="investor", address=address())
    with pytest.raises(ForbiddenError):
        await queries.list_investors(db, principal=unregistered)
    del bob_p


async def test_kyc_state_machine(db: AsyncSession) -> None:
    investor, me = await make_investor(db, kyc_status="pending")
    with pytest.raises(ForbiddenError):
        await investors.approve_kyc(db, principal=me, investor_id=investor.id)
    with pytest.raises(ForbiddenError):
        await investors.approve_kyc(db, principal=ops(), investor_id=investor.id)
    with pytest.raises(ConflictError):
        await investors.approve_kyc(
            db, principal=admin(), investor_id=investor.id, status=KycStatus.EXPIRED
        )
    await investors.approve_kyc(db, principal=admin(), investor_id=investor.id)
    assert investor.kyc_status == "approved"
    await investors.approve_kyc(
        db, principal=admin(), investor_id=investor.id, status=KycStatus.EXPIRED
    )
    with pytest.raises(ConflictError):
        await investors.approve_kyc(
            db, principal=admin(), investor_id=investor.id, status=KycStatus.EXPIRED
        )
    rows = await audit_rows(db, "investor", investor.id)
    assert [(r.before or {}).get("kyc_status") for r in rows] == ["pending", "approved"]
    assert [(r.after or {}).get("kyc_status") for r in rows] == ["approved", "expired"]
    with pytest.raises(NotFoundError):
        await investors.approve_kyc(db, principal=admin(), investor_id=10**12)


async def test_accreditation(db: AsyncSession) -> None:
    investor, me = await make_investor(db)
    later = now() + timedelta(days=90)
    with pytest.raises(ForbiddenError):
        await investors.set_accreditation(
            db,
            principal=me,
            investor_id=investor.id,
            status=AccreditationStatus.VERIFIED,
            expires_at=later,
        )
    with pytest.raises(ValidationError):
        await investors.set_accreditation(
            db, principal=admin(), investor_id=investor.id, status=AccreditationStatus.VERIFIED
        )
    with pytest.raises(ValidationError):
        await investors.set_accreditation(
            db,
            principal=admin(),
            investor_id=investor.id,
            status=AccreditationStatus.VERIFIED,
            expires_at=now() - timedelta(days=1),
        )
    assert investor.accreditation_status == "none"
    await investors.set_accreditation(
        db,
        principal=admin(),
        investor_id=investor.id,
        status=AccreditationStatus.VERIFIED,
        expires_at=later,
    )
    assert investor.accreditation_status == "verified"
    assert investor.accreditation_expires_at == later
    [row] = await audit_rows(db, "investor", investor.id)
    assert row.action == "investor.accreditation"


async def test_two_investors_may_share_an_email(engine: AsyncEngine) -> None:
    """Registrations with one e-mail both succeed: its existence cannot be probed (issue 9)."""
    email = f"race{secrets.token_hex(6)}@example.com"
    first, second = wallet(address()), wallet(address())
    try:
        async with AsyncSession(engine) as a, AsyncSession(engine) as b:
            await _register(a, first, email=email)
            await a.commit()
            await _register(b, second, email=email.upper())
            await b.commit()
        async with AsyncSession(engine) as check:
            count = await check.scalar(
                select(func.count())
                .select_from(Investor)
                .where(func.lower(Investor.email) == email)
            )
            assert count == 2
    finally:
        async with AsyncSession(engine) as cleanup, cleanup.begin():
            ids = (
                await cleanup.scalars(
                    select(Investor.id).where(func.lower(Investor.email) == email)
                )
            ).all()
            await cleanup.execute(
                delete(AuditLog).where(
                    AuditLog.entity_type == "investor",
                    AuditLog.entity_id.in_([str(i) for i in ids]),
                )
            )
            await cleanup.execute(delete(InvestorWallet).where(InvestorWallet.investor_id.in_(ids)))
            await cleanup.execute(delete(Investor).where(Investor.id.in_(ids)))

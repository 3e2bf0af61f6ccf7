"""Staff sign-in, refresh-token rotation, reuse detection and sign-out on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dpo.auth.principal import Kind
from dpo.auth.signin import (
    principal_for_user,
    refresh,
    refresh_in_own_transaction,
    sign_out,
    staff_sign_in,
)
from dpo.auth.staff import create_staff_user
from dpo.auth.tokens import (
    hash_refresh_token,
    issue_tokens,
    revoke_refresh_token,
    verify_access_token,
)
from dpo.db.models import AuditLog, RefreshToken, User
from dpo.db.models.enums import Role
from dpo.db.session import session_factory
from dpo.errors import UnauthenticatedError
from dpo.settings import Settings
from tests.integration.auth.conftest import PASSWORD


async def test_staff_sign_in(db: AsyncSession, staff: User, settings: Settings) -> None:
    last_login = select(User.last_login_at).where(User.id == staff.id)
    assert await db.scalar(last_login) is None
    pair = await staff_sign_in(
        db, email="  ops.lead@EXAMPLE.com ", password=PASSWORD, settings=settings
    )
    principal = verify_access_token(pair.access_token, settings=settings)
    assert (principal.kind, principal.role, principal.user_id) == (Kind.STAFF, "admin", staff.id)
    assert await db.scalar(last_login) is not None
    assert (
        await db.scalar(
            select(AuditLog.actor).where(
                AuditLog.action == "auth.sign_in", AuditLog.entity_id == str(staff.id)
            )
        )
        == f"user:{staff.id}"
    )
    stored = await db.scalar(
        select(RefreshToken).where(
            RefreshToken.token_hash == hash_refresh_token(pair.refresh_token)
        )
    )
    assert stored is not None
    assert stored.user_id == staff.id
    # Only the hash is kept.
    tokens = await db.scalars(select(RefreshToken.token_hash))
    assert pair.refresh_token not in list(tokens)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ops.lead@example.com", "wrong password!!"),
        ("nobody@example.com", PASSWORD),
        ("", ""),
    ],
)
async def test_staff_bad_credentials_give_one_message(
    db: AsyncSession, staff: User, settings: Settings, email: str, password: str
) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        await staff_sign_in(db, email=email, password=password, settings=settings)
    assert caught.value.message == "wrong e-mail or password"
    assert await db.scalar(select(func.count()).select_from(RefreshToken)) == 0
    assert staff.last_login_at is None


async def test_inactive_staff_is_refused(db: AsyncSession, staff: User, settings: Settings) -> None:
    staff.is_active = False
    await db.flush()
    # The right password of a deactivated account gets the wrong password's answer (issue 9).
    with pytest.raises(UnauthenticatedError, match=r"^wrong e-mail or password$"):
        await staff_sign_in(db, email=staff.email, password=PASSWORD, settings=settings)
    assert staff.last_login_at is None


async def test_investor_user_cannot_use_staff_sign_in(db: AsyncSession, settings: Settings) -> None:
    user = await create_staff_user(
        db, email="inv@example.com", password=PASSWORD, role=Role.INVESTOR, actor="test"
    )
    with pytest.raises(UnauthenticatedError, match=r"^wrong e-mail or password$"):
        await staff_sign_in(db, email=user.email, password=PASSWORD, settings=settings)


async def test_refresh_rotates(db: AsyncSession, staff: User, settings: Settings) -> None:
    first = await staff_sign_in(db, email=staff.email, password=PASSWORD, settings=settings)
    second = await refresh(db, refresh_token=first.refresh_token, settings=settings)
    assert second.refresh_token != first.refresh_token
    assert verify_access_token(second.access_token, settings=settings).user_id == staff.id
    rows = (await db.scalars(select(RefreshToken).order_by(RefreshToken.id))).all()
    assert len(rows) == 2
    assert rows[0].family == rows[1].family
    assert rows[0].used_at is not None
    assert rows[1].used_at is None
    third = await refresh(db, refresh_token=second.refresh_token, settings=settings)
    assert third.principal.user_id == staff.id


async def test_reuse_revokes_the_family(db: AsyncSession, staff: User, settings: Settings) -> None:
    first = await staff_sign_in(db, email=staff.email, password=PASSWORD, settings=settings)
    second = await refresh(db, refresh_token=first.refresh_token, settings=settings)
    other = await staff_sign_in(db, email=staff.email, password=PASSWORD, settings=settings)
    with pytest.raises(UnauthenticatedError, match="sign in again"):
        await refresh(db, refresh_token=first.refresh_token, settings=settings)
    # The thief's copy and the victim's successor are both dead now.
    with pytest.raises(UnauthenticatedError):
        await refresh(db, refresh_token=second.refresh_token, settings=settings)
    # Another sign-in's family is untouched.
    assert (await refresh(db, refresh_token=other.refresh_token, settings=settings)).principal


async def test_unknown_refresh_token_is_refused(db: AsyncSession, settings: Settings) -> None:
    with pytest.raises(UnauthenticatedError):
        await refresh(db, refresh_token="not-a-token", settings=settings)


async def test_refresh_of_deactivated_staff_is_refused(
    db: AsyncSession, staff: User, settings: Settings
) -> None:
    pair = await staff_sign_in(db, email=staff.email, password=PASSWORD, settings=settings)
    staff.is_active = False
    await db.flush()
    with pytest.raises(UnauthenticatedError, match="cannot sign in"):
        await refresh(db, refresh_token=pair.refresh_token, settings=settings)


async def test_sign_out_revokes(db: AsyncSession, staff: User, settings: Settings) -> None:
    pair = await staff_sign_in(db, email=staff.email, password=PASSWORD, settings=settings)
    assert await sign_out(db, refresh_token=pair.refresh_token, principal=pair.principal)
    assert await revoke_refresh_token(db, refresh_token="unknown") is None
    audit = await db.scalar(select(AuditLog.actor).where(AuditLog.action == "auth.sign_out"))
    assert audit == f"user:{staff.id}"
    with pytest.raises(UnauthenticatedError):
        await refresh(db, refresh_token=pair.refresh_token, settings=settings)


async def test_reuse_revocation_survives_the_error(engine: AsyncEngine, settings: Settings) -> None:
    # Committed for real: the revocation must persist although refresh raised.
    sessions = session_factory(engine)
    async with sessions() as session:
        user = await create_staff_user(
            session, email="reuse@example.com", password=PASSWORD, role=Role.OPS, actor="test"
        )
        pair = await issue_tokens(session, principal=principal_for_user(user), settings=settings)
        await session.commit()
    try:
        second = await refresh_in_own_transaction(
            sessions, refresh_token=pair.refresh_token, settings=settings
        )
        with pytest.raises(UnauthenticatedError):
            await refresh_in_own_transaction(
                sessions, refresh_token=pair.refresh_token, settings=settings
            )
        with pytest.raises(UnauthenticatedError):
            await refresh_in_own_transaction(
                sessions, refresh_token=second.refresh_token, settings=settings
            )
    finally:
        await _delete_user(sessions, user.id)


async def test_concurrent_refresh_lets_one_through(engine: AsyncEngine, settings: Settings) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        user = await create_staff_user(
            session, email="race@example.com", password=PASSWORD, role=Role.OPS, actor="test"
        )
        pair = await issue_tokens(session, principal=principal_for_user(user), settings=settings)
        await session.commit()
    try:
        results = await asyncio.gather(
            *(
                refresh_in_own_transaction(
                    sessions, refresh_token=pair.refresh_token, settings=settings
                )
                for _ in range(2)
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(r, UnauthenticatedError) for r in results) == 1
        assert sum(not isinstance(r, BaseException) for r in results) == 1
    finally:
        await _delete_user(sessions, user.id)


async def _delete_user(sessions: async_sessionmaker[AsyncSession], user_id: int) -> None:
    async with sessions() as session:
        await session.execute(delete(AuditLog).where(AuditLog.actor == f"user:{user_id}"))
        await session.execute(
            delete(AuditLog).where(
                AuditLog.entity_type == "user", AuditLog.entity_id == str(user_id)
            )
        )
        await session.execute(delete(User).where(User.id == user_id))
        await session.commit()

"""Sign-in services: wallet (SIWE), staff password, refresh and sign-out.

A wallet whose address belongs to no investor still signs in: the principal is a wallet
principal with role 'investor' and investor_id None, so it can register as an investor. After
registering, a refresh picks the investor up, since refresh looks the principal up afresh.
Staff sign-in serves admin, issuer and ops users; investors sign in with their wallet.

A refused staff sign-in gives one message whatever the cause (unknown e-mail, wrong password,
deactivated account, non-staff role), after the same password check, so the answer tells a
guesser nothing. Every refused sign-in, staff or wallet, is audited (`auth.sign_in_refused`)
in a transaction of its own, with the internal reason and no secret: never the password,
the signature or the nonce; the e-mail only when it looks like one (a password typed into the
e-mail field must not end up in the log).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.auth import siwe, siwe_message
from dpo.auth.passwords import check_password
from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.auth.staff import EMAIL
from dpo.auth.tokens import TokenPair, issue_tokens, revoke_refresh_token, rotate_refresh_token
from dpo.db.models import InvestorWallet, User
from dpo.db.models.enums import Role
from dpo.db.session import unit_of_work
from dpo.errors import DomainError, UnauthenticatedError
from dpo.services import audit
from dpo.settings import Settings

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "wrong e-mail or password"
STAFF_ROLES = frozenset({Role.ADMIN.value, Role.ISSUER.value, Role.OPS.value})


class SignInRefusedError(UnauthenticatedError):
    """A refused staff sign-in; `reason` and `user_id` are for the audit log, never the client."""

    def __init__(self, reason: str, *, user_id: int | None = None) -> None:
        super().__init__(BAD_CREDENTIALS)
        self.reason = reason
        self.user_id = user_id


def principal_for_user(user: User) -> Principal:
    """The staff principal of a user."""
    return Principal(kind=Kind.STAFF, role=user.role, user_id=user.id, issuer_id=user.issuer_id)


async def principal_for_wallet(session: AsyncSession, *, address: str) -> Principal:
    """The wallet principal of an address, with its investor if one holds the wallet."""
    investor_id = await session.scalar(
        select(InvestorWallet.investor_id).where(
            func.lower(InvestorWallet.address) == address.lower()
        )
    )
    return Principal(
        kind=Kind.WALLET, role=Role.INVESTOR.value, investor_id=investor_id, address=address
    )


async def staff_sign_in(
    session: AsyncSession, *, email: str, password: str, settings: Settings
) -> TokenPair:
    """Check a staff user's password and issue tokens; the caller commits."""
    user = await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or user.password_hash is None:
        await check_password(None, password)  # as slow as a wrong password
        raise SignInRefusedError("unknown_email", user_id=user.id if user else None)
    if not await check_password(user.password_hash, password):
        raise SignInRefusedError("wrong_password", user_id=user.id)
    # Checked after the password, with the same answer: a guesser learns nothing.
    if not user.is_active:
        raise SignInRefusedError("inactive", user_id=user.id)
    if user.role not in STAFF_ROLES:
        raise SignInRefusedError("not_staff", user_id=user.id)
    user.last_login_at = datetime.now(UTC)
    principal = principal_for_user(user)
    await audit.record(
        session,
        principal=principal,
        action="auth.sign_in",
        entity_type="user",
        entity_id=user.id,
        before=None,
        after={"method": "password"},
    )
    return await issue_tokens(session, principal=principal, settings=settings)


async def wallet_sign_in(
    session: AsyncSession, *, message: str, signature: str, domain: str, settings: Settings
) -> TokenPair:
    """Verify a SIWE message and signature, consume its nonce and issue tokens."""
    signed = await siwe.verify_sign_in(
        session, text=message, signature=signature, domain=domain, chain_id=settings.chain_id
    )
    # Signing proves control of the wallet: a registered, unverified one becomes verified.
    await session.execute(
        update(InvestorWallet)
        .where(
            func.lower(InvestorWallet.address) == signed.address.lower(),
            InvestorWallet.verified_at.is_(None),
        )
        .values(verified_at=datetime.now(UTC))
    )
    principal = await principal_for_wallet(session, address=signed.address)
    await audit.record(
        session,
        principal=principal,
        action="auth.sign_in",
        entity_type="wallet",
        entity_id=signed.address,
        before=None,
        after={"method": "siwe", "investor_id": principal.investor_id},
    )
    return await issue_tokens(session, principal=principal, settings=settings)


async def refresh(session: AsyncSession, *, refresh_token: str, settings: Settings) -> TokenPair:
    """Rotate a refresh token and issue a new pair; commit even if it raises (see tokens)."""
    subject = await rotate_refresh_token(session, refresh_token=refresh_token)
    if subject.kind is Kind.STAFF and subject.user_id is not None:
        user = await session.get(User, subject.user_id)
        if user is None or not user.is_active or user.role not in STAFF_ROLES:
            raise UnauthenticatedError("this account cannot sign in")
        principal = principal_for_user(user)
    elif subject.kind is Kind.WALLET and subject.address is not None:
        principal = await principal_for_wallet(session, address=subject.address)
    else:
        raise UnauthenticatedError("refresh token is invalid or expired; sign in again")
    await audit.record(
        session,
        principal=principal,
        action="auth.refresh",
        entity_type="refresh_token_family",
        entity_id=subject.family,
        before=None,
        after=None,
    )
    return await issue_tokens(
        session, principal=principal, settings=settings, family=subject.family
    )


async def sign_out(session: AsyncSession, *, refresh_token: str, principal: Principal) -> bool:
    """Revoke the refresh token's family; False when the token is unknown."""
    family = await revoke_refresh_token(session, refresh_token=refresh_token)
    if family is None:
        return False
    await audit.record(
        session,
        principal=principal,
        action="auth.sign_out",
        entity_type="refresh_token_family",
        entity_id=family,
        before=None,
        after={"revoked": True},
    )
    return True


async def refresh_in_own_transaction(
    sessions: async_sessionmaker[AsyncSession], *, refresh_token: str, settings: Settings
) -> TokenPair:
    """`refresh` committed in its own transaction, keeping a reuse's revocation."""
    async with sessions() as session:
        try:
            pair = await refresh(session, refresh_token=refresh_token, settings=settings)
        except UnauthenticatedError:
            await session.commit()
            raise
        await session.commit()
        return pair


def _auditable_email(email: str) -> str | None:
    value = email.strip()[:320]
    return value if EMAIL.match(value) else None


async def audited_staff_sign_in(
    sessions: async_sessionmaker[AsyncSession], *, email: str, password: str, settings: Settings
) -> TokenPair:
    """`staff_sign_in` in its own transaction; a refusal is audited apart, then re-raised."""
    try:
        async with unit_of_work(sessions) as session:
            return await staff_sign_in(session, email=email, password=password, settings=settings)
    except SignInRefusedError as error:
        await audit.record_apart(
            sessions,
            principal=ANONYMOUS,
            action="auth.sign_in_refused",
            entity_type="user",
            entity_id=error.user_id if error.user_id is not None else "unknown",
            after={"method": "password", "reason": error.reason, "email": _auditable_email(email)},
        )
        raise


def _claimed_address(message: str) -> str:
    try:
        return siwe_message.parse_message(message).address
    except DomainError:
        return "unknown"


async def audited_wallet_sign_in(
    sessions: async_sessionmaker[AsyncSession],
    *,
    message: str,
    signature: str,
    domain: str,
    settings: Settings,
) -> TokenPair:
    """`wallet_sign_in` in its own transaction; a refusal is audited apart, then re-raised."""
    try:
        async with unit_of_work(sessions) as session:
            return await wallet_sign_in(
                session, message=message, signature=signature, domain=domain, settings=settings
            )
    except DomainError as error:
        await audit.record_apart(
            sessions,
            principal=ANONYMOUS,
            action="auth.sign_in_refused",
            entity_type="wallet",
            entity_id=_claimed_address(message),
            after={"method": "siwe", "code": error.code.value, "reason": error.message[:200]},
        )
        raise

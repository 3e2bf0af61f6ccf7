"""Wallet sign-in on PostgreSQL: nonces are single-use, even under a race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dpo.auth.principal import Kind
from dpo.auth.signin import wallet_sign_in
from dpo.auth.siwe import create_nonce
from dpo.auth.siwe_message import SiweMessage
from dpo.auth.tokens import verify_access_token
from dpo.db.models import AuditLog, AuthNonce, InvestorWallet, RefreshToken
from dpo.db.session import session_factory
from dpo.errors import UnauthenticatedError, ValidationError
from dpo.settings import Settings
from tests.integration.db import factories

DOMAIN = "dpo.example"


def signed(account: LocalAccount, nonce: str, **changes: object) -> tuple[str, str]:
    values: dict[str, object] = {
        "domain": DOMAIN,
        "address": account.address,
        "uri": f"https://{DOMAIN}",
        "chain_id": 31337,
        "nonce": nonce,
        "issued_at": datetime.now(UTC),
        "statement": "Sign in to DPO.",
    }
    values.update(changes)
    text = SiweMessage(**values).format()  # type: ignore[arg-type]
    signature = Account.sign_message(encode_defunct(text=text), private_key=account.key)
    return text, "0x" + bytes(signature.signature).hex()


async def used_at(db: AsyncSession, nonce: str) -> datetime | None:
    return await db.scalar(select(AuthNonce.used_at).where(AuthNonce.nonce == nonce))


async def test_nonce(db: AsyncSession) -> None:
    first = await create_nonce(db)
    second = await create_nonce(db, address=Account.create().address)
    assert first.nonce != second.nonce
    assert len(first.nonce) == 32
    assert int(first.nonce, 16) >= 0
    remaining = first.expires_at - datetime.now(UTC)
    assert timedelta(minutes=9) < remaining <= timedelta(minutes=10)


async def test_nonce_refuses_a_bad_address(db: AsyncSession) -> None:
    with pytest.raises(ValidationError, match="address"):
        await create_nonce(db, address="0x123")


async def test_sign_in_without_investor(db: AsyncSession, settings: Settings) -> None:
    account = Account.create()
    nonce = await create_nonce(db)
    text, signature = signed(account, nonce.nonce)
    pair = await wallet_sign_in(
        db, message=text, signature=signature, domain=DOMAIN, settings=settings
    )
    principal = verify_access_token(pair.access_token, settings=settings)
    assert (principal.kind, principal.role, principal.address, principal.investor_id) == (
        Kind.WALLET,
        "investor",
        account.address,
        None,
    )
    assert await used_at(db, nonce.nonce) is not None
    stored = await db.scalar(
        select(RefreshToken.address).where(RefreshToken.address == account.address)
    )
    assert stored == account.address


async def test_sign_in_finds_the_investor_and_verifies_the_wallet(
    db: AsyncSession, settings: Settings
) -> None:
    account = Account.create()
    investor = factories.investor()
    db.add(investor)
    await db.flush()
    wallet = InvestorWallet(
        investor_id=investor.id, address=account.address.lower(), chain_id=31337
    )
    db.add(wallet)
    await db.flush()
    nonce = await create_nonce(db, address=account.address)
    text, signature = signed(account, nonce.nonce)
    pair = await wallet_sign_in(
        db, message=text, signature=signature, domain=DOMAIN, settings=settings
    )
    assert pair.principal.investor_id == investor.id
    await db.refresh(wallet)
    assert wallet.verified_at is not None


async def test_nonce_is_single_use(db: AsyncSession, settings: Settings) -> None:
    account = Account.create()
    nonce = await create_nonce(db)
    text, signature = signed(account, nonce.nonce)
    await wallet_sign_in(db, message=text, signature=signature, domain=DOMAIN, settings=settings)
    with pytest.raises(UnauthenticatedError, match="nonce"):
        await wallet_sign_in(
            db, message=text, signature=signature, domain=DOMAIN, settings=settings
        )


async def test_unknown_nonce_is_refused(db: AsyncSession, settings: Settings) -> None:
    text, signature = signed(Account.create(), "neverissued12345")
    with pytest.raises(UnauthenticatedError, match="nonce"):
        await wallet_sign_in(
            db, message=text, signature=signature, domain=DOMAIN, settings=settings
        )


async def test_expired_nonce_is_refused(db: AsyncSession, settings: Settings) -> None:
    nonce = await create_nonce(db, now=datetime.now(UTC) - timedelta(minutes=11))
    text, signature = signed(Account.create(), nonce.nonce)
    with pytest.raises(UnauthenticatedError, match="nonce"):
        await wallet_sign_in(
            db, message=text, signature=signature, domain=DOMAIN, settings=settings
        )
    assert await used_at(db, nonce.nonce) is None


async def test_nonce_bound_to_another_address_is_refused(
    db: AsyncSession, settings: Settings
) -> None:
    nonce = await create_nonce(db, address=Account.create().address)
    text, signature = signed(Account.create(), nonce.nonce)
    with pytest.raises(UnauthenticatedError, match="nonce"):
        await wallet_sign_in(
            db, message=text, signature=signature, domain=DOMAIN, settings=settings
        )
    assert await used_at(db, nonce.nonce) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"domain": "evil.example"},
        {"chain_id": 1},
        {"expiration_time": datetime.now(UTC) - timedelta(seconds=1)},
    ],
)
async def test_failed_checks_leave_the_nonce_unused(
    db: AsyncSession, settings: Settings, changes: dict[str, object]
) -> None:
    nonce = await create_nonce(db)
    text, signature = signed(Account.create(), nonce.nonce, **changes)
    with pytest.raises(UnauthenticatedError):
        await wallet_sign_in(
            db, message=text, signature=signature, domain=DOMAIN, settings=settings
        )
    assert await used_at(db, nonce.nonce) is None


async def test_bad_signature_leaves_the_nonce_unused(db: AsyncSession, settings: Settings) -> None:
    account = Account.create()
    nonce = await create_nonce(db)
    text, _ = signed(account, nonce.nonce)
    _, other_signature = signed(Account.create(), nonce.nonce)
    with pytest.raises(UnauthenticatedError, match="signature"):
        await wallet_sign_in(
            db, message=text, signature=other_signature, domain=DOMAIN, settings=settings
        )
    assert await used_at(db, nonce.nonce) is None
    assert (
        await db.scalar(select(RefreshToken.id).where(RefreshToken.address == account.address))
        is None
    )


async def test_race_on_one_nonce_lets_exactly_one_in(
    engine: AsyncEngine, settings: Settings
) -> None:
    sessions = session_factory(engine)
    account = Account.create()
    async with sessions() as session:
        nonce = (await create_nonce(session)).nonce
        await session.commit()
    text, signature = signed(account, nonce)

    async def attempt() -> object:
        async with sessions() as session, session.begin():
            return await wallet_sign_in(
                session, message=text, signature=signature, domain=DOMAIN, settings=settings
            )

    try:
        results = await asyncio.gather(*(attempt() for _ in range(4)), return_exceptions=True)
        assert sum(isinstance(r, UnauthenticatedError) for r in results) == 3
        assert sum(not isinstance(r, BaseException) for r in results) == 1
    finally:
        async with sessions() as session, session.begin():
            await session.execute(delete(AuthNonce).where(AuthNonce.nonce == nonce))
            await session.execute(
                delete(AuditLog).where(AuditLog.actor == f"wallet:{account.address}")
            )
            await session.execute(
                delete(RefreshToken).where(RefreshToken.address == account.address)
            )

"""Housekeeping: expired nonces and refresh tokens are deleted, live ones kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Kind, Principal
from dpo.auth.siwe import create_nonce, purge_nonces
from dpo.auth.tokens import REFRESH_TTL, issue_tokens, purge_refresh_tokens
from dpo.db.models import AuthNonce, RefreshToken
from dpo.settings import Settings

WALLET = Principal(
    kind=Kind.WALLET, role="investor", address="0x00000000000000000000000000000000000000aB"
)


async def test_purge(db: AsyncSession, settings: Settings) -> None:
    now = datetime.now(UTC)
    old_nonce = await create_nonce(db, now=now - timedelta(hours=1))
    live_nonce = await create_nonce(db, now=now)
    old = await issue_tokens(
        db, principal=WALLET, settings=settings, now=now - REFRESH_TTL - timedelta(seconds=1)
    )
    live = await issue_tokens(db, principal=WALLET, settings=settings, now=now)
    # Other tests' rows may exist too; ours must be among the deleted and the kept.
    assert await purge_nonces(db, now=now) >= 1
    assert await purge_refresh_tokens(db, now=now) >= 1
    nonces = set(await db.scalars(select(AuthNonce.nonce)))
    assert old_nonce.nonce not in nonces
    assert live_nonce.nonce in nonces
    families = list(await db.scalars(select(RefreshToken.expires_at)))
    assert live.refresh_expires_at in families
    assert old.refresh_expires_at not in families

"""API keys on PostgreSQL and Redis: verify, revoke, expire, replay, window."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers

from dpo.auth.api_keys import create_api_key, revoke_api_key, signed_headers, verify_request
from dpo.auth.principal import Kind, Principal
from dpo.db.models import ApiKey, User
from dpo.db.models.enums import Role
from dpo.errors import UnauthenticatedError, ValidationError
from dpo.settings import Settings

BODY = b'{"query":"{ viewer { kind } }"}'


async def verify(
    db: AsyncSession,
    redis: aioredis.Redis,
    settings: Settings,
    headers: dict[str, str],
    *,
    body: bytes = BODY,
    path: str = "/graphql",
    now: float | None = None,
) -> Principal:
    return await verify_request(
        db,
        redis,
        settings=settings,
        headers=Headers(headers),
        method="POST",
        path=path,
        body=body,
        now=now,
    )


async def test_create_stores_no_secret(db: AsyncSession, settings: Settings) -> None:
    full_key, key = await create_api_key(db, name=" job runner ", role=Role.OPS, settings=settings)
    prefix, _, secret = full_key.partition(".")
    assert (key.prefix, key.name, key.role) == (prefix, "job runner", "ops")
    assert len(prefix) == 15
    assert len(secret) == 43
    assert secret not in key.key_hash
    assert key.key_hash.startswith("v1$")


async def test_create_refuses_bad_input(db: AsyncSession, settings: Settings) -> None:
    with pytest.raises(ValidationError, match="name"):
        await create_api_key(db, name=" ", role=Role.OPS, settings=settings)
    with pytest.raises(ValueError, match="'root'"):
        await create_api_key(db, name="x", role="root", settings=settings)  # type: ignore[arg-type]


async def test_signed_request_gives_a_service_principal(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings, staff: User
) -> None:
    full_key, key = await create_api_key(
        db, name="tool", role=Role.ADMIN, settings=settings, user_id=staff.id
    )
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    principal = await verify(db, redis_client, settings, headers)
    assert principal.kind is Kind.SERVICE
    assert principal.role == "admin"
    assert principal.api_key_prefix == key.prefix
    assert principal.user_id == staff.id
    await db.refresh(key)
    assert key.last_used_at is not None


async def test_replay_is_refused(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, _ = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    await verify(db, redis_client, settings, headers)
    with pytest.raises(UnauthenticatedError, match="already used"):
        await verify(db, redis_client, settings, headers)
    # A new signature (new timestamp) goes through.
    later = signed_headers(
        full_key, method="POST", path="/graphql", body=BODY, timestamp=int(time.time()) + 1
    )
    await verify(db, redis_client, settings, later)


async def test_forgeries_do_not_block_the_real_request(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, _ = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    with pytest.raises(UnauthenticatedError, match="invalid"):
        await verify(db, redis_client, settings, headers, body=BODY + b"x")
    await verify(db, redis_client, settings, headers)


@pytest.mark.parametrize("skew", [-301, 301])
async def test_outside_the_window_is_refused(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings, skew: int
) -> None:
    full_key, _ = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    stamp = int(time.time())
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY, timestamp=stamp)
    with pytest.raises(UnauthenticatedError, match="300 s"):
        await verify(db, redis_client, settings, headers, now=stamp + skew)
    await verify(db, redis_client, settings, headers, now=stamp + (299 if skew > 0 else -299))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Signature": "00" * 32}, "invalid"),
        ({"X-Api-Key": "dpo000000000000"}, "invalid"),
        ({"X-Timestamp": "soon"}, "unix time"),
        ({"X-Signature": ""}, "required"),
    ],
)
async def test_bad_headers_are_refused(
    db: AsyncSession,
    redis_client: aioredis.Redis,
    settings: Settings,
    change: dict[str, str],
    reason: str,
) -> None:
    full_key, _ = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    with pytest.raises(UnauthenticatedError, match=reason):
        await verify(db, redis_client, settings, {**headers, **change})


async def test_signature_covers_the_path(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, _ = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    with pytest.raises(UnauthenticatedError, match="invalid"):
        await verify(db, redis_client, settings, headers, path="/graphql?x=1")


async def test_revoked_key_is_refused(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, key = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    assert await revoke_api_key(db, prefix=key.prefix) is True
    assert await revoke_api_key(db, prefix=key.prefix) is False
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    with pytest.raises(UnauthenticatedError, match="invalid"):
        await verify(db, redis_client, settings, headers)


async def test_expired_key_is_refused(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, _ = await create_api_key(
        db,
        name="tool",
        role=Role.OPS,
        settings=settings,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    with pytest.raises(UnauthenticatedError, match="invalid"):
        await verify(db, redis_client, settings, headers)


async def test_new_hmac_secret_invalidates_keys(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, _ = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    rotated = settings.model_copy(update={"api_hmac_secret": SecretStr("r" * 40)})
    headers = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
    with pytest.raises(UnauthenticatedError, match="invalid"):
        await verify(db, redis_client, rotated, headers)


async def test_last_used_is_written_at_most_once_a_minute(
    db: AsyncSession, redis_client: aioredis.Redis, settings: Settings
) -> None:
    full_key, key = await create_api_key(db, name="tool", role=Role.OPS, settings=settings)
    stamp = int(time.time())
    for offset in (0, 1):
        headers = signed_headers(
            full_key, method="POST", path="/graphql", body=BODY, timestamp=stamp + offset
        )
        await verify(db, redis_client, settings, headers, now=stamp + offset)
    used = await db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id))
    assert used == datetime.fromtimestamp(stamp, UTC)

"""authenticate(): each kind of credential, and refusals instead of silent anonymity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import delete
from starlette.datastructures import Headers

from dpo.auth.api_keys import create_api_key, signed_headers
from dpo.auth.authenticate import authenticate
from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.models import ApiKey
from dpo.db.models.enums import Role
from dpo.db.session import unit_of_work
from dpo.errors import UnauthenticatedError
from dpo.runtime import Runtime
from dpo.settings import Settings

WALLET = Principal(
    kind=Kind.WALLET,
    role="investor",
    investor_id=5,
    address="0x00000000000000000000000000000000000000aB",
)
BODY = b'{"query":"{ viewer { kind } }"}'


@pytest.fixture
async def runtime(
    migrated_url: str, redis_url: str, settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[Runtime]:
    runtime = Runtime.open(settings, database_url=migrated_url, redis_url=redis_url)
    yield runtime
    await runtime.close()


async def run(runtime: Runtime, headers: dict[str, str], path: str = "/graphql") -> Principal:
    async def body() -> bytes:
        return BODY

    return await authenticate(
        Headers(headers), method="POST", path=path, runtime=runtime, body=body
    )


async def test_no_credentials_is_anonymous(runtime: Runtime) -> None:
    assert await run(runtime, {"content-type": "application/json"}) is ANONYMOUS


async def test_bearer_token(runtime: Runtime, settings: Settings) -> None:
    token = create_access_token(WALLET, settings=settings).token
    assert await run(runtime, {"Authorization": f"Bearer {token}"}) == WALLET
    assert await run(runtime, {"authorization": f"bearer  {token} "}) == WALLET


@pytest.mark.parametrize(
    "value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "token", "Bearer " + "x" * 5000]
)
async def test_malformed_authorization_is_refused(runtime: Runtime, value: str) -> None:
    with pytest.raises(UnauthenticatedError, match="Bearer <token>"):
        await run(runtime, {"Authorization": value})


async def test_expired_token_is_refused(runtime: Runtime, settings: Settings) -> None:
    token = create_access_token(
        WALLET, settings=settings, now=datetime.now(UTC) - timedelta(hours=1)
    ).token
    with pytest.raises(UnauthenticatedError, match="expired"):
        await run(runtime, {"Authorization": f"Bearer {token}"})


async def test_api_key(runtime: Runtime, settings: Settings) -> None:
    async with unit_of_work(runtime.sessions) as session:
        full_key, key = await create_api_key(session, name="jobs", role=Role.OPS, settings=settings)
    try:
        headers = signed_headers(full_key, method="POST", path="/graphql?op=x", body=BODY)
        principal = await run(runtime, headers, path="/graphql?op=x")
        assert (principal.kind, principal.role, principal.api_key_prefix) == (
            Kind.SERVICE,
            "ops",
            key.prefix,
        )
        with pytest.raises(UnauthenticatedError, match="already used"):
            await run(runtime, headers, path="/graphql?op=x")
        token = create_access_token(WALLET, settings=settings).token
        fresh = signed_headers(full_key, method="POST", path="/graphql", body=BODY)
        with pytest.raises(UnauthenticatedError, match="not both"):
            await run(runtime, {**fresh, "Authorization": f"Bearer {token}"})
    finally:
        async with unit_of_work(runtime.sessions) as session:
            await session.execute(delete(ApiKey).where(ApiKey.id == key.id))


async def test_partial_api_key_headers_are_refused(runtime: Runtime) -> None:
    with pytest.raises(UnauthenticatedError, match="all required"):
        await run(runtime, {"X-Api-Key": "dpo000000000000"})

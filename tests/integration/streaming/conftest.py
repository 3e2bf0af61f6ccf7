"""Fixtures of the streaming tests: a migrated database of their own and a hub on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.session import create_engine, session_factory
from tests.integration.streaming.support import FakeChain, seed_offering


@pytest.fixture
async def sessions(migrated_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated_database, pool_size=5)
    factory = session_factory(engine)
    await seed_offering(factory)
    yield factory
    await engine.dispose()


@pytest.fixture
def chain(sessions: async_sessionmaker[AsyncSession]) -> FakeChain:
    return FakeChain(sessions)


@pytest.fixture
def channel() -> str:
    """A doorbell channel of the test's own, so other tests' doorbells never ring it."""
    return f"dpo:feed:test:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()

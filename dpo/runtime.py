"""The process's shared resources: engine, sessions and Redis, opened and closed together."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dpo.db.session import create_engine, session_factory
from dpo.settings import Settings


@dataclass
class Runtime:
    """What a request or a job needs to reach the outside world."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis

    @classmethod
    def open(cls, settings: Settings, *, database_url: str, redis_url: str) -> Runtime:
        """Create the pools; connections are made lazily on first use."""
        engine = create_engine(database_url)
        return cls(settings=settings, engine=engine, sessions=session_factory(engine),
                   redis=aioredis.from_url(redis_url, health_check_interval=30))

    async def close(self) -> None:
        """Close the pools."""
        await self.redis.aclose()
        await self.engine.dispose()

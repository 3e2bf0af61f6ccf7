"""The process's shared resources: engine, sessions and Redis, opened and closed together."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import InitVar, dataclass, field
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dpo.channels import Channels, channels_for
from dpo.db.pooled_reads import pooled_reads
from dpo.db.raw_reads import Connections
from dpo.db.session import create_engine, read_session_factory, session_factory
from dpo.providers.billbitts import BillBittsClient
from dpo.settings import Settings
from dpo.streaming.shared import SharedHub


@dataclass
class Runtime:
    """What a request or a job needs to reach the outside world."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    # Work started by a request that outlives it (a job run started by `runJob`): cancelled
    # at close, which records each run as stopped.
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    # The pub/sub channel names of this deployment (its Redis database and prefix).
    channels: Channels = field(default_factory=Channels)
    # The payment provider's client, for processes that ask for payment requests (web);
    # closed with the runtime.
    billbitts: BillBittsClient | None = None
    # Sessions for reads only (dpo.db.session.read_session_factory); `sessions` when not given.
    read_sessions: InitVar[async_sessionmaker[AsyncSession] | None] = None
    reads: async_sessionmaker[AsyncSession] = field(init=False)
    # How reads of rows only (dpo.db.raw_reads) reach a connection: the engine's pool without
    # a session (dpo.db.pooled_reads) unless given (tests on one rolled-back connection).
    raw_connections: InitVar[Connections | None] = None
    read_connections: Connections = field(init=False)
    # The feed hub of this process's subscriptions, started by the first one (web only).
    feed: SharedHub = field(init=False)

    def __post_init__(
        self,
        read_sessions: async_sessionmaker[AsyncSession] | None,
        raw_connections: Connections | None,
    ) -> None:
        self.reads = read_sessions or self.sessions
        self.read_connections = raw_connections or partial(pooled_reads, self.engine)
        self.feed = SharedHub(
            sessions=self.sessions,
            redis=self.redis,
            channel=self.channels.feed,
            chain_id=self.settings.chain_id,
            knobs=self.settings,
        )

    @classmethod
    def open(cls, settings: Settings, *, database_url: str, redis_url: str) -> Runtime:
        """Create the pools; connections are made lazily on first use."""
        engine = create_engine(database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            read_sessions=read_session_factory(engine),
            redis=aioredis.from_url(redis_url, health_check_interval=30),
            channels=channels_for(redis_url, settings.redis_channel_prefix),
        )

    async def close(self) -> None:
        """Stop background work, then close the pools."""
        tasks = list(self.background)
        # One loop turn first: a task cancelled before it ever ran would skip its own
        # clean-up (a job run records itself stopped and releases its lock).
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.feed.close()
        if self.billbitts is not None:
            await self.billbitts.http.aclose()
        await self.redis.aclose()
        await self.engine.dispose()

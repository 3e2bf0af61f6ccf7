"""Fixtures that start real servers, or use the ones TEST_DATABASE_URL / TEST_REDIS_URL name."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dpo.channels import redis_db
from dpo.db.session import create_engine
from dpo.db.urls import libpq_url, redacted, with_database
from dpo.embedded.anvil import EmbeddedAnvil
from dpo.embedded.postgres import EmbeddedPostgres
from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis
from tests.integration.api.committed import Api, committed_api
from tests.support.migrated import migrated_copy

ROOT = Path(__file__).resolve().parents[1]
# Each run gets its own folder so runs side by side never share (or stop) a server.
RUN_DIR = ROOT / ".dpo" / "test" / f"run-{os.getpid()}"


def in_ci() -> bool:
    """Tell whether we run under CI, where a missing server is a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    """A scratch folder for this test run's servers, removed at the end."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    yield RUN_DIR
    shutil.rmtree(RUN_DIR, ignore_errors=True)


async def _reachable_pg(url: str) -> None:
    try:
        connection = await asyncpg.connect(libpq_url(url), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        raise RuntimeError(f"TEST_DATABASE_URL {redacted(url)} is not reachable: {error}") from None
    await connection.close()


@pytest.fixture(scope="session")
def pg_server_url(run_dir: Path) -> Iterator[str]:
    """A PostgreSQL server's maintenance-database URL: the named one or an embedded one."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        asyncio.run(_reachable_pg(configured))
        yield libpq_url(configured)
        return
    server = EmbeddedPostgres(run_dir / "pg", free_port(), durable=False)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def _create_database(server_url: str) -> str:
    name = f"dpo_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(server_url, name)


async def _drop_database(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
async def empty_database(pg_server_url: str) -> AsyncIterator[str]:
    """A brand-new empty database, dropped after the test."""
    url = await _create_database(pg_server_url)
    yield url
    await _drop_database(pg_server_url, url)


@pytest.fixture
async def migrated_database(pg_server_url: str) -> AsyncIterator[str]:
    """A brand-new database at the migrations' head (a copy: tests/support/migrated.py),
    dropped after the test."""
    url = await migrated_copy(pg_server_url)
    yield url
    await _drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
async def migrated_url(pg_server_url: str) -> AsyncIterator[str]:
    """A database migrated to head, shared by the session's tests."""
    url = await migrated_copy(pg_server_url)
    yield url
    await _drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database."""
    engine = create_engine(migrated_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back after the test, commits included."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


def worker_index() -> int:
    """This process's number among parallel test workers (pytest-xdist's gwN; 0 alone)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def worker_redis_url(url: str, index: int) -> str:
    """The worker's own Redis database: the named one, then the ones below it.

    Every test flushes its database and every channel name carries the database number
    (dpo/channels.py), so workers on different numbers never see each other's keys or
    messages. Redis has 16 databases: more workers than the number below the named one
    is refused rather than shared.
    """
    parsed = urlsplit(url)
    base = redis_db(url)
    if index == 0:
        return url
    if index > base:
        raise RuntimeError(
            f"TEST_REDIS_URL selects database {base}: too few below it "
            f"for worker {index}; name a higher database number"
        )
    query = "&".join(
        part for part in parsed.query.split("&") if part and not part.startswith("db=")
    )
    return urlunsplit((parsed.scheme, parsed.netloc, f"/{base - index}", query, ""))


@pytest.fixture(scope="session")
def redis_url(run_dir: Path) -> Iterator[str]:
    """A Redis server's URL: the named one (this worker's database of it) or an embedded one."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield worker_redis_url(configured, worker_index())
        return
    server = EmbeddedRedis(run_dir / "redis", free_port())
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on an emptied Redis database, so tests never see each other's keys."""
    client = aioredis.from_url(redis_url)
    try:
        await client.ping()
    except OSError as error:
        raise RuntimeError(f"Redis at {redacted(redis_url)} is not reachable: {error}") from None
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
def anvil_url(run_dir: Path) -> Iterator[str]:
    """A fresh local chain for one test module, stopped after it."""
    chain = EmbeddedAnvil(run_dir / f"anvil-{uuid.uuid4().hex[:8]}", free_port(), persist=False)
    url = chain.start()
    try:
        yield url
    finally:
        chain.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set environment variables for one test and clear the cached settings."""
    from dpo.settings import get_settings

    def setter(**values: str | None) -> None:
        for key, value in values.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield setter
    get_settings.cache_clear()


@pytest.fixture(scope="module")
async def api(pg_server_url: str) -> AsyncIterator[Api]:
    """A migrated database of this module's own, with the app's runtime over it."""
    async with committed_api(pg_server_url) as api:
        yield api

"""Per-test anvil with the contracts deployed, and a per-test migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.chain.deploy import deploy_all
from dpo.db.session import create_engine, session_factory
from dpo.embedded.anvil import DEV_PRIVATE_KEY, EmbeddedAnvil
from dpo.embedded.process import free_port
from tests.conftest import _drop_database
from tests.integration.sender.world import World, folder, prepare_chain
from tests.support.migrated import migrated_copy


@pytest.fixture
def anvil(run_dir: Path) -> Iterator[str]:
    """A fresh chain for one test."""
    chain = EmbeddedAnvil(folder(run_dir), free_port(), persist=False)
    url = chain.start()
    try:
        yield url
    finally:
        chain.stop()


@pytest.fixture
async def world(anvil: str) -> World:
    """The contracts, offering 1 and one verified investor on the test's chain."""
    addresses = await deploy_all(anvil, DEV_PRIVATE_KEY)
    return prepare_chain(anvil, addresses)


@pytest.fixture
async def sender_db(pg_server_url: str) -> AsyncIterator[str]:
    """A migrated database of the test's own (the sender commits, as in production)."""
    url = await migrated_copy(pg_server_url)
    yield url
    await _drop_database(pg_server_url, url)


@pytest.fixture
async def sessions(sender_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database."""
    engine = create_engine(sender_db, pool_size=5)
    yield session_factory(engine)
    await engine.dispose()

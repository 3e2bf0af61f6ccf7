"""A read that loses its database connection fails with the code it always had (INTERNAL,
masked), on the driver path (dpo.db.raw_reads) as through SQLAlchemy, and the next request
gets working connections: every connection the dead server held is recycled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db import raw_reads
from tests.integration.api.committed import Api, committed_api
from tests.integration.api.test_statement_count import seed
from tests.integration.services.support import admin

QUERIES = {
    "events": "{ events(first: 5) { edges { cursor node { eventName args } } } }",
    "offerings": "{ offerings(first: 3) { totalCount edges { node { name issuer { name } "
    "totals { amountCommitted } } } } }",
    "offering": "query ($id: ID!) { offering(id: $id) { name issuer { name } "
    "totals { amountCommitted investorsCount } } }",
    "positions": '{ positions(holder: "0x00000000000000000000000000000000000000aa") '
    "{ totalCount edges { node { quantity } } } }",
}


@pytest.fixture(scope="module")
async def api(pg_server_url: str) -> AsyncIterator[Api]:
    async with committed_api(pg_server_url) as api:
        await seed(api, 3)
        yield api


async def _through_sqlalchemy(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.execute(statement)).all())


async def _kill_all(api: Api, server_url: str) -> None:
    """Terminate every backend the pool holds (a database restart, as clients see it)."""
    name = api.url.rsplit("/", 1)[1]
    admin_connection = await asyncpg.connect(server_url)
    try:
        await admin_connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin_connection.close()
    await asyncio.sleep(0.2)  # the goodbyes arrive


async def _outcomes(api: Api, server_url: str, query: str, **variables: Any) -> list[Any]:
    """The error codes (or None) of: a request after every backend died, then the next one."""
    # Several connections in the pool, all of them killed.
    await asyncio.gather(*(api.run(query, admin(), **variables) for _ in range(3)))
    await _kill_all(api, server_url)
    outcomes = []
    for _ in range(2):
        result = await api.run(query, admin(), **variables)
        # Failed or not, the request's connection is back in the pool (or closed).
        assert api.runtime.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        errors = result["errors"]
        outcomes.append([(e["code"], e["message"]) for e in errors] or result["data"] is not None)
    return outcomes


@pytest.mark.parametrize("name", list(QUERIES))
async def test_lost_connection_same_code_on_both_paths(
    api: Api, pg_server_url: str, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    variables: dict[str, Any] = {}
    if name == "offering":
        listed = await api.run("{ offerings(first: 1) { edges { node { id } } } }", admin())
        variables["id"] = listed["data"]["offerings"]["edges"][0]["node"]["id"]
    raw = await _outcomes(api, pg_server_url, QUERIES[name], **variables)
    with monkeypatch.context() as patch:
        patch.setattr(raw_reads, "fetch", _through_sqlalchemy)
        previous = await _outcomes(api, pg_server_url, QUERIES[name], **variables)
    assert raw == previous
    assert raw == [[("INTERNAL", "Internal server error")], True]

"""One HTTP request's reads share one session; closing it returns the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from starlette.requests import Request
from strawberry.dataloader import DataLoader

from app.graphql.schema import build_schema
from dpo.auth.principal import ANONYMOUS
from resolvers.loaders import RequestLoaders
from schema.context import Context
from tests.integration.api.committed import Api, committed_api
from tests.integration.api.test_statement_count import PAGE, seed

schema = build_schema(debug=False)


@pytest.fixture(scope="module")
async def api(pg_server_url: str) -> AsyncIterator[Api]:
    async with committed_api(pg_server_url) as api:
        await seed(api, 5)
        yield api


# Issuers with their offerings: the issuers' page, then the offerings' loader batches.
ISSUERS_PAGE = """
query { issuers(first: 10) { totalCount edges { node { name
  offerings(first: 5) { totalCount edges { node { id totals { investmentsCount } } } } } } } }
"""


async def page(
    api: Api, *, share_session: bool, document: str = PAGE
) -> tuple[int, Context, dict[str, Any]]:
    """Run a page (of offerings); the pool checkouts it cost, its context and its data."""
    checkouts: list[object] = []

    def checkout(*_: Any) -> None:
        checkouts.append(None)

    pool = api.runtime.engine.sync_engine.pool
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    context = Context(
        request=request,
        runtime=api.runtime,
        make_loaders=RequestLoaders,
        principal=ANONYMOUS,
        share_session=share_session,
    )
    event.listen(pool, "checkout", checkout)
    try:
        result = await schema.execute(
            document, variable_values={"first": 10}, context_value=context
        )
    finally:
        event.remove(pool, "checkout", checkout)
    assert result.errors is None
    assert result.data is not None
    return len(checkouts), context, result.data


async def test_shared_session_costs_one_checkout_for_all_batches(api: Api) -> None:
    separate, _, expected = await page(api, share_session=False, document=ISSUERS_PAGE)
    shared, context, data = await page(api, share_session=True, document=ISSUERS_PAGE)
    assert data == expected
    assert len(data["issuers"]["edges"]) == 5
    # The issuers, their count and the offerings' batches: one session, one checkout.
    assert separate > 1
    assert shared == 1
    pool = api.runtime.engine.sync_engine.pool
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    await context.loaders.close()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    await context.loaders.close()  # a second close is harmless


async def test_closing_an_unused_shared_session_is_a_no_op(api: Api) -> None:
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    context = Context(
        request=request, runtime=api.runtime, make_loaders=RequestLoaders, share_session=True
    )
    await context.loaders.close()
    assert api.runtime.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_request_holding_its_connection_keeps_no_transaction_open(api: Api) -> None:
    """Reads run without BEGIN/ROLLBACK (two round trips less), so nothing is left idle in
    a transaction while the request still holds its connection."""
    _, context, _ = await page(api, share_session=True)
    observer = await asyncpg.connect(api.url)
    try:
        states = [
            row["state"]
            for row in await observer.fetch(
                "SELECT state FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    finally:
        await observer.close()
        await context.loaders.close()
    assert "idle" in states  # the request's connection, still held
    assert "idle in transaction" not in states


THROUGH_FRAGMENTS = """
query ($first: Int!, $id: ID!) {
  offerings(first: $first) { edges { node { ...Parts } } }
  offering(id: $id) { name ... on Offering { issuer { name } totals { investmentsCount } } }
}
fragment Parts on Offering { id issuer { id name } totals { amountCommitted } }
"""


async def test_pages_read_issuers_and_totals_with_the_page_not_per_node(api: Api) -> None:
    """Asked for (through fragments too), an offering's issuer and totals come with the page
    as plain values: the per-node DataLoaders are never used."""

    async def refuse(keys: list[Any]) -> list[Any]:
        raise AssertionError(f"loaded per node: {keys}")

    def page_only(sessions: Any, *, shared: bool, connections: Any) -> RequestLoaders:
        loaders = RequestLoaders(sessions, shared=shared, connections=connections)
        loaders.issuer = DataLoader(load_fn=refuse)
        loaders.offering_totals = DataLoader(load_fn=refuse)
        return loaders

    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    first = await schema.execute(
        PAGE,
        variable_values={"first": 1},
        context_value=Context(request=request, runtime=api.runtime, make_loaders=RequestLoaders),
    )
    assert first.data is not None
    offering_id = first.data["offerings"]["edges"][0]["node"]["id"]
    results = []
    for make in (page_only, RequestLoaders):
        context = Context(request=request, runtime=api.runtime, make_loaders=make)
        result = await schema.execute(
            THROUGH_FRAGMENTS,
            variable_values={"first": 5, "id": offering_id},
            context_value=context,
        )
        assert result.errors is None
        results.append(result.data)
    assert results[0] == results[1]
    assert results[0] is not None
    assert [e["node"]["issuer"]["name"] for e in results[0]["offerings"]["edges"]] == [
        f"Issuer {i}" for i in range(5)
    ]
    assert results[0]["offering"]["totals"] == {"investmentsCount": 2}


async def test_a_detail_page_reads_offering_issuer_and_totals_in_one_statement(api: Api) -> None:
    listed = await api.run(PAGE, first=1)
    offering_id = listed["data"]["offerings"]["edges"][0]["node"]["id"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sync_engine = api.runtime.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        result = await api.run(
            "query ($id: ID!) { offering(id: $id) { name issuer { name } "
            "totals { investmentsCount amountCommitted } } }",
            id=offering_id,
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert result["errors"] == []
    assert result["data"]["offering"]["issuer"] == {"name": "Issuer 0"}
    assert result["data"]["offering"]["totals"] == {"investmentsCount": 2, "amountCommitted": "350"}
    assert len(statements) == 1

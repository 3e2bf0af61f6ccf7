"""Requests whose database work is only raw reads (events, positions, an offering's detail
page, a page of offerings) reach a pooled connection without a session
(dpo.db.pooled_reads), hold one connection at a time, and give it back however they end:
answered, failed on a statement timeout, or cancelled mid-read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.requests import Request

from app.graphql.schema import build_schema
from resolvers.loaders import RequestLoaders
from schema.context import Context
from tests.integration.api.committed import Api, committed_api
from tests.integration.api.test_raw_read_errors import QUERIES
from tests.integration.api.test_statement_count import seed
from tests.integration.services.support import admin

schema = build_schema(debug=False)


@pytest.fixture(scope="module")
async def api(pg_server_url: str) -> AsyncIterator[Api]:
    async with committed_api(pg_server_url) as api:
        await seed(api, 3)
        yield api


async def request(api: Api, document: str, **variables: Any) -> dict[str, Any]:
    """One HTTP request's run: its loaders share one connection, closed at the end as the
    endpoint closes them (app.endpoint)."""
    context = Context(
        request=Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []}),
        runtime=api.runtime,
        make_loaders=RequestLoaders,
        principal=admin(),
        share_session=True,
    )
    try:
        result = await schema.execute(document, variable_values=variables, context_value=context)
    finally:
        await context.close()
    return {"data": result.data, "errors": [e.message for e in result.errors or []]}


def checked_out(api: Api) -> int:
    return api.runtime.engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined, no-any-return]


async def variables_of(api: Api, name: str) -> dict[str, Any]:
    if name != "offering":
        return {}
    listed = await request(api, "{ offerings(first: 1) { edges { node { id } } } }")
    return {"id": listed["data"]["offerings"]["edges"][0]["node"]["id"]}


@pytest.mark.parametrize("name", list(QUERIES))
async def test_raw_only_requests_open_no_session(api: Api, name: str) -> None:
    variables = await variables_of(api, name)
    transactions: list[object] = []

    def began(*_: Any) -> None:
        transactions.append(None)

    event.listen(Session, "after_transaction_create", began)
    try:
        result = await request(api, QUERIES[name], **variables)
    finally:
        event.remove(Session, "after_transaction_create", began)
    assert result["errors"] == []
    assert result["data"]
    assert transactions == []
    assert checked_out(api) == 0


async def test_a_mixed_request_holds_one_connection_at_a_time(api: Api) -> None:
    """A raw read (the detail page) and an ORM read (an offering without relations) in one
    request: the session takes over the request's connection, never a second one."""
    variables = await variables_of(api, "offering")
    held, most = [0], [0]

    def checkout(*_: Any) -> None:
        held[0] += 1
        most[0] = max(most[0], held[0])

    def checkin(*_: Any) -> None:
        held[0] -= 1

    pool = api.runtime.engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        result = await request(
            api,
            "query ($id: ID!) { detail: offering(id: $id) { name totals { investorsCount } } "
            "plain: offering(id: $id) { name } }",
            **variables,
        )
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert result["errors"] == []
    assert result["data"]["detail"]["name"] == result["data"]["plain"]["name"]
    assert most[0] == 1
    assert checked_out(api) == 0


async def _locked(api: Api) -> asyncpg.Connection:
    """A connection holding chain_events locked: the events page waits on it."""
    holder = await asyncpg.connect(api.url)
    await holder.execute("BEGIN; LOCK TABLE chain_events IN ACCESS EXCLUSIVE MODE")
    return holder


async def _waiting(api: Api) -> None:
    observer = await asyncpg.connect(api.url)
    try:
        for _ in range(500):
            waiting = await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
    finally:
        await observer.close()
    raise AssertionError("the request never waited on the lock")


async def test_a_request_cancelled_mid_read_gives_its_connection_back(api: Api) -> None:
    holder = await _locked(api)
    try:
        task = asyncio.create_task(request(api, QUERIES["events"]))
        await _waiting(api)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert checked_out(api) == 0
    finally:
        await holder.close()
    result = await request(api, QUERIES["events"])
    assert result["errors"] == []
    assert checked_out(api) == 0


async def test_a_request_past_its_statement_timeout_gives_its_connection_back(
    api: Api, pg_server_url: str
) -> None:
    name = api.url.rsplit("/", 1)[1]
    admin_connection = await asyncpg.connect(pg_server_url)
    engine = api.runtime.engine
    try:
        await admin_connection.execute(f'ALTER DATABASE "{name}" SET statement_timeout = 200')
        await engine.dispose()  # new connections, made with the setting
        holder = await _locked(api)
        try:
            for document in (QUERIES["events"], QUERIES["events"]):
                result = await request(api, document)
                assert result["errors"] == ["Internal server error"]
                assert checked_out(api) == 0
        finally:
            await holder.close()
    finally:
        await admin_connection.execute(f'ALTER DATABASE "{name}" RESET statement_timeout')
        await admin_connection.close()
        await engine.dispose()
    result = await request(api, QUERIES["events"])
    assert result["errors"] == []
    assert checked_out(api) == 0

"""runJob and jobRuns over real HTTP, reconciliationBreaks over a real WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from dpo.auth.principal import Principal
from dpo.db.urls import libpq_url
from tests.e2e.conftest import web_server
from tests.e2e.test_subscriptions import bearer, server_env, signed_in
from tests.integration.api.committed import committed_api
from tests.integration.jobs.world import World, address
from tests.integration.streaming.wsclient import open_socket

RUN = """mutation($name: String!, $full: Boolean) { runJob(name: $name, full: $full) {
  id job status counts } }"""
RUNS = '{ jobRuns(job: "reconcile_positions") { id status counts error } }'
BREAKS = "subscription { reconciliationBreaks { holder kind status ledgerQty chainQty } }"


@pytest.fixture
async def world(pg_server_url: str) -> AsyncIterator[tuple[str, World]]:
    async with committed_api(pg_server_url) as api:
        yield api.url, World(api.runtime.sessions)


async def _post(
    client: httpx.AsyncClient, query: str, principal: Principal | None = None, **variables: Any
) -> dict[str, Any]:
    headers = bearer(principal) if principal is not None else bearer()
    answer = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = answer.json()
    return body


async def _finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(200):
        runs = (await _post(client, RUNS))["data"]["jobRuns"]
        run = next(r for r in runs if r["id"] == run_id)
        if run["status"] != "running":
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError("the run never finished")


async def test_run_job_is_followed_in_job_runs_and_breaks_reach_subscribers(
    world: tuple[str, World], redis_url: str
) -> None:
    url, book = world
    offering, short, extra = await book.offering(), address(), address()
    await book.ledger(offering, short, 10)
    await book.chain(offering, short, 9)
    await book.chain(offering, extra, 5)
    with web_server(server_env(url, redis_url)) as base:
        async with (
            open_socket(base) as sock,
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            await signed_in(sock)
            await sock.subscribe("b", BREAKS)
            await asyncio.sleep(1.5)  # the subscription's starting mark is taken
            started = (await _post(client, RUN, name="reconcile_positions"))["data"]["runJob"]
            assert (started["job"], started["status"]) == ("reconcile_positions", "running")
            done = await _finished(client, started["id"])
            assert (done["status"], done["counts"]["breaks_opened"]) == ("succeeded", 2)
            opened = [await sock.data("b") for _ in range(2)]
            assert sorted(
                (f["reconciliationBreaks"]["kind"], f["reconciliationBreaks"]["status"])
                for f in opened
            ) == [("missing_in_ledger", "OPEN"), ("quantity_mismatch", "OPEN")]
            await book.chain(offering, short, 10)  # fixed
            again = await _post(client, RUN, name="reconcile_positions")
            assert again["data"]["runJob"]["status"] == "running", again
            await _finished(client, again["data"]["runJob"]["id"])
            closed = (await sock.data("b"))["reconciliationBreaks"]
            assert (closed["holder"], closed["kind"], closed["status"]) == (
                short,
                "quantity_mismatch",
                "RESOLVED",
            )


async def test_concurrent_run_jobs_one_runs_the_other_gets_conflict(
    world: tuple[str, World], redis_url: str
) -> None:
    url, _ = world
    blocker = await asyncpg.connect(libpq_url(url))
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("UPDATE break_revision SET last_value = last_value")
        with web_server(server_env(url, redis_url)) as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                answers = await asyncio.gather(
                    *(_post(client, RUN, name="reconcile_positions") for _ in range(4))
                )
                started = [a["data"]["runJob"] for a in answers if a.get("data")]
                refused = [a["errors"][0]["extensions"] for a in answers if a.get("errors")]
                assert len(started) == 1, answers
                assert [(e["code"], e["reason"]) for e in refused] == [
                    ("CONFLICT", "already_running")
                ] * 3
                await holding.rollback()
                done = await _finished(client, started[0]["id"])
                assert done["status"] == "succeeded"
                runs = (await _post(client, RUNS))["data"]["jobRuns"]
                assert len(runs) == 1
    finally:
        await blocker.close()

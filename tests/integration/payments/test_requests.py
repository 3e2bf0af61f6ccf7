"""The payment request worker against the sandbox: two at once ask once per order; an outage
is recorded and retried later, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from dpo.payments.requests import request_due
from dpo.providers.billbitts import BillBittsClient
from dpo.providers.breaker import Breakers
from dpo.providers.factory import billbitts_client
from dpo.settings import Settings
from jobs.payments import payment_pass
from sandbox.server import Sandbox
from tests.e2e.http_seed import World, seed
from tests.e2e.webhook_world import new_order
from tests.integration.api.committed import Api


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


@pytest.fixture
async def clients(sandbox: Sandbox) -> AsyncIterator[list[BillBittsClient]]:
    sandbox.world.reset()
    settings = Settings.model_validate(
        {
            "BILLBITTS_API_URL": sandbox.environment()["BILLBITTS_API_URL"],
            "BILLBITTS_API_KEY": sandbox.world.keys["BILLBITTS_API_KEY"],
            "PROVIDER_RETRY_ATTEMPTS": "2",
            "PROVIDER_RETRY_WAIT_INITIAL": "0.01",
            "PROVIDER_RETRY_WAIT_MAX": "0.02",
            "BILLBITTS_TIMEOUT": "5",
        }
    )
    made = [
        billbitts_client(settings, breakers=Breakers(threshold=1000, reset_seconds=1))
        for _ in range(2)
    ]
    yield made
    for client in made:
        await client.http.aclose()


async def due_orders(api: Api, world: World, n: int) -> list[int]:
    ids = [
        (
            await new_order(
                api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
            )
        )[0]
        for _ in range(n)
    ]
    async with api.runtime.sessions() as session, session.begin():
        # Only these are due: earlier tests' orders are pushed out of the way.
        await session.execute(
            text(
                "UPDATE investments SET payment_next_attempt_at = now() + interval '1 day' "
                "WHERE payment_id IS NULL AND NOT (id = ANY(:ids))"
            ),
            {"ids": ids},
        )
    return ids


async def test_two_workers_at_once_ask_once_per_order(
    api: Api, world: World, sandbox: Sandbox, clients: list[BillBittsClient]
) -> None:
    ids = await due_orders(api, world, 12)
    first, second = await asyncio.gather(
        *[
            request_due(api.runtime.sessions, client, expiry_seconds=3600, limit=50)
            for client in clients
        ]
    )
    assert first.created + second.created == 12
    assert len(sandbox.world.billbitts.requests) == 12  # the claim kept them apart
    async with api.runtime.sessions() as session:
        stored = (
            await session.execute(
                text(
                    "SELECT payment_id, payment_url, payment_status FROM investments "
                    "WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        ).all()
    assert len({row.payment_id for row in stored}) == 12
    assert all(row.payment_url and row.payment_status == "pending" for row in stored)


async def test_an_outage_is_recorded_and_retried_after_backoff(
    api: Api, world: World, sandbox: Sandbox, clients: list[BillBittsClient]
) -> None:
    (investment,) = await due_orders(api, world, 1)
    sandbox.world.billbitts.faults.set(always="503")
    done = await request_due(api.runtime.sessions, clients[0], expiry_seconds=3600)
    assert (done.created, done.retrying) == (0, 1)
    async with api.runtime.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT payment_attempts, payment_error, payment_id, "
                    "payment_next_attempt_at > now() AS later FROM investments WHERE id = :i"
                ),
                {"i": investment},
            )
        ).one()
    assert (row.payment_attempts, row.payment_id, row.later) == (1, None, True)
    assert "unavailable" in row.payment_error or "HTTP 503" in row.payment_error
    # Not due yet: nothing is asked.
    sandbox.world.billbitts.faults.clear()
    calls = len(sandbox.world.billbitts.requests)
    assert (await request_due(api.runtime.sessions, clients[0], expiry_seconds=3600)).created == 0
    assert len(sandbox.world.billbitts.requests) == calls
    async with api.runtime.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE investments SET payment_next_attempt_at = now() WHERE id = :i"),
            {"i": investment},
        )
    assert (await request_due(api.runtime.sessions, clients[0], expiry_seconds=3600)).created == 1


class Killed(BaseException):
    """The worker dies mid-call (nothing of its own catches a BaseException)."""


class DyingClient:
    """A BillBitts client whose worker is killed while it asks."""

    async def create_payment(self, request: object) -> None:
        raise Killed


async def claimed_for(api: Api, investment: int) -> float:
    """Seconds until the order's claim lapses."""
    async with api.runtime.sessions() as session:
        left = await session.scalar(
            text(
                "SELECT extract(epoch FROM payment_next_attempt_at - now()) "
                "FROM investments WHERE id = :i"
            ),
            {"i": investment},
        )
    return float(left)


@pytest.mark.parametrize(("lease", "expected"), [(None, 60), (20, 20), (3600, 3600)])
async def test_a_worker_killed_mid_call_leaves_its_claim_for_the_lease(
    api: Api, world: World, lease: int | None, expected: int
) -> None:
    (investment,) = await due_orders(api, world, 1)
    dying: Any = DyingClient()
    leased = {} if lease is None else {"lease_seconds": lease}
    with pytest.raises(Killed):
        await request_due(api.runtime.sessions, dying, expiry_seconds=3600, **leased)
    # Nobody claims it again for the lease, counted from the claim (a moment before this
    # transaction's now(): the margin is that moment, far less than between the leases).
    assert expected - 5 < await claimed_for(api, investment) <= expected


async def test_the_scheduler_s_payment_pass_claims_for_the_configured_lease(
    api: Api, world: World
) -> None:
    (investment,) = await due_orders(api, world, 1)
    settings = Settings.model_validate({"PAYMENT_CLAIM_LEASE_SECONDS": "3600"})
    dying: Any = DyingClient()
    with pytest.raises(Killed):
        await payment_pass(replace(api.runtime, settings=settings), dying)
    assert 3595 < await claimed_for(api, investment) <= 3600

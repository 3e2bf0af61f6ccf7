"""The outbox with the Omnisend simulator: written with its cause, sent once, crash-safe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select, text, update

from dpo.db.models import Notification
from dpo.db.session import unit_of_work
from dpo.errors import ValidationError
from dpo.notifications.delivery import deliver_due
from dpo.notifications.notifier import OmnisendNotifier
from dpo.notifications.outbox import notify_investor, notify_ops
from dpo.providers.breaker import Breakers
from dpo.providers.factory import Providers
from dpo.reconciliation.service import run_pass
from dpo.runtime import Runtime
from sandbox.server import Sandbox
from tests.integration.api.committed import committed_api
from tests.integration.jobs.world import World, address
from tests.integration.providers.conftest import settings_for

OPS = "ops@example.com"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture
async def runtime(pg_server_url: str) -> AsyncIterator[Runtime]:
    async with committed_api(pg_server_url) as api:
        yield api.runtime


@pytest.fixture
async def notifier(sandbox: Sandbox) -> AsyncIterator[OmnisendNotifier]:
    sandbox.world.reset()
    settings = settings_for(sandbox)
    providers = Providers.from_settings(
        settings,
        breakers=Breakers(threshold=100, reset_seconds=settings.provider_breaker_reset_seconds),
    )
    yield OmnisendNotifier(providers.omnisend)
    await providers.aclose()


async def _rows(runtime: Runtime) -> list[tuple[str, str, int]]:
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                select(Notification.key, Notification.status, Notification.attempts).order_by(
                    Notification.id
                )
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def _due_now(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessions) as session:
        await session.execute(update(Notification).values(next_attempt_at=text("now()")))


async def test_written_with_its_cause_or_not_at_all_and_once_per_key(runtime: Runtime) -> None:
    book = World(runtime.sessions)
    offering = await book.offering()
    await book.chain(offering, address(), 5)
    result = await run_pass(runtime.sessions)
    assert await _rows(runtime) == [(f"breaks_opened:run:{result.run_id}", "pending", 0)]

    async def failing_change() -> None:
        async with unit_of_work(runtime.sessions) as session:
            await notify_ops(session, key="job_failed:999", event="job_failed", fields={})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with unit_of_work(runtime.sessions) as session:
        assert await notify_investor(
            session,
            key="tokens_issued:inv:1",
            event="tokens_issued",
            email="ada@example.com",
            fields={"units": 5},
        )
        assert not await notify_investor(
            session,
            key="tokens_issued:inv:1",
            event="tokens_issued",
            email="ada@example.com",
            fields={"units": 5},
        )
        for bad in (
            {"event": "Tokens Issued"},
            {"email": "not-an-address"},
            {"key": "x" * 201},
            {"event": "job_failed"},
        ):
            arguments = {
                "key": "k",
                "event": "tokens_issued",
                "email": "a@b.c",
                "fields": {},
                **bad,
            }
            with pytest.raises(ValidationError):
                await notify_investor(session, **arguments)  # type: ignore[arg-type]
    assert [key for key, *_ in await _rows(runtime)] == [
        f"breaks_opened:run:{result.run_id}",
        "tokens_issued:inv:1",
    ]


async def test_delivered_once_retried_on_faults_and_refusals_fail(
    runtime: Runtime, notifier: OmnisendNotifier, sandbox: Sandbox
) -> None:
    omnisend = sandbox.world.omnisend
    async with unit_of_work(runtime.sessions) as session:
        await notify_ops(
            session, key="job_failed:1", event="job_failed", fields={"job": "sync_csd"}
        )
        await notify_investor(
            session,
            key="tokens_issued:inv:7",
            event="tokens_issued",
            email="ada@example.com",
            fields={"units": 5},
        )
    # Without OPS_EMAIL, ops messages wait; the investor's goes.
    assert (await deliver_due(runtime.sessions, notifier, ops_email=None)).sent == 1
    assert [e["email"] for e in omnisend.events] == ["ada@example.com"]
    omnisend.faults.set(always="503")
    failed = await deliver_due(runtime.sessions, notifier, ops_email=OPS)
    assert (failed.sent, failed.retrying) == (0, 1)
    assert await _rows(runtime) == [
        ("job_failed:1", "pending", 1),
        ("tokens_issued:inv:7", "sent", 1),
    ]
    omnisend.faults.clear()
    assert (await deliver_due(runtime.sessions, notifier, ops_email=OPS)).sent == 0  # backoff
    await _due_now(runtime)
    assert (await deliver_due(runtime.sessions, notifier, ops_email=OPS)).sent == 1
    assert (await deliver_due(runtime.sessions, notifier, ops_email=OPS)).sent == 0
    assert [(e["systemName"], e["email"], e["fields"]["messageKey"]) for e in omnisend.events] == [
        ("tokens_issued", "ada@example.com", "tokens_issued:inv:7"),
        ("job_failed", OPS, "job_failed:1"),
    ]
    # A refusal is final: no retry.
    async with unit_of_work(runtime.sessions) as session:
        await notify_ops(session, key="job_failed:2", event="job_failed", fields={})
    omnisend.faults.set(["400"])
    refused = await deliver_due(runtime.sessions, notifier, ops_email=OPS)
    assert refused.failed == 1
    await _due_now(runtime)
    assert (await deliver_due(runtime.sessions, notifier, ops_email=OPS)).sent == 0
    assert (await _rows(runtime))[-1] == ("job_failed:2", "failed", 1)


async def test_a_crash_after_the_claim_loses_nothing_and_two_workers_send_once(
    runtime: Runtime, notifier: OmnisendNotifier, sandbox: Sandbox
) -> None:
    async with unit_of_work(runtime.sessions) as session:
        for n in range(20):
            await notify_ops(session, key=f"job_failed:{n}", event="job_failed", fields={})
        # A worker that died after claiming one: its lease has run out.
        await session.flush()
        await session.execute(
            text(
                "UPDATE notifications SET status = 'sending', attempts = 1, "
                "claimed_until = now() - interval '1 second' WHERE key = 'job_failed:0'"
            )
        )
    results = await asyncio.gather(
        *(deliver_due(runtime.sessions, notifier, ops_email=OPS, limit=8) for _ in range(2))
    )
    results.append(await deliver_due(runtime.sessions, notifier, ops_email=OPS, limit=8))
    assert sum(r.sent for r in results) == 20
    keys = [e["fields"]["messageKey"] for e in sandbox.world.omnisend.events]
    assert sorted(keys) == sorted(f"job_failed:{n}" for n in range(20))  # each exactly once
    assert {status for _, status, _ in await _rows(runtime)} == {"sent"}

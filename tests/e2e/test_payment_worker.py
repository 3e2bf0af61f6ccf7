"""`dpo jobs schedule` settles expired orders with the sandbox BillBitts, and a kill -9 in the
middle of a pass changes nothing of the end state: the restarted scheduler finishes the rest,
and every order ends as a clean run leaves it (cancelled with its page closed, or paid and
issued once)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO

import pytest
from sqlalchemy import text

from sandbox.server import Sandbox
from tests.e2e.conftest import ROOT, base_env
from tests.e2e.http_seed import World, seed
from tests.e2e.webhook_world import counts, new_order
from tests.integration.api.committed import Api

# The scheduled jobs' providers refuse at once; only BillBitts (the sandbox) answers.
UNREACHABLE = {
    "ECB_FX_URL": "http://127.0.0.1:9/eurofxref-daily.xml",
    "EUROCLEAR_API_BASE": "http://127.0.0.1:9",
    "CLEARSTREAM_PMI_BASE": "http://127.0.0.1:9",
    "XETRA_API_BASE": "http://127.0.0.1:9",
    "PROVIDER_RETRY_ATTEMPTS": "1",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


def scheduler(
    api: Api, redis_url: str, sandbox: Sandbox, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    env = base_env(
        DATABASE_URL=api.url,
        REDIS_URL=redis_url,
        JOBS_SCHEDULE="runbook",
        BILLBITTS_API_URL=sandbox.environment()["BILLBITTS_API_URL"],
        BILLBITTS_API_KEY=sandbox.world.keys["BILLBITTS_API_KEY"],
        PAYMENT_EXPIRY_GRACE_SECONDS="60",
        # The orders the killed scheduler had claimed are the restarted one's after this,
        # instead of the production minute.
        PAYMENT_CLAIM_LEASE_SECONDS="5",
        **UNREACHABLE,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "app", "jobs", "schedule"],
        env=env,
        cwd=ROOT / "tests",
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def expired_order(api: Api, world: World, sandbox: Sandbox, status: str) -> tuple[int, str]:
    """An order whose payment expired two minutes ago; BillBitts holds it in `status`."""
    investment, reference = await new_order(
        api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
    )
    payment_id = f"pay_worker_{investment}"
    expired = datetime.now(UTC) - timedelta(seconds=120)
    sandbox.world.billbitts.payments[reference] = {
        "id": payment_id,
        "reference": reference,
        "status": status,
        "amount": "100",
        "currency": "EUR",
        "url": f"{sandbox.url}/billbitts/pay/{payment_id}",
        "expiresAt": expired.isoformat().replace("+00:00", "Z"),
    }
    async with api.runtime.sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE investments SET payment_id = :p, payment_status = 'pending', "
                "payment_url = :u, payment_expires_at = :e WHERE id = :i"
            ),
            {
                "p": payment_id,
                "u": f"{sandbox.url}/billbitts/pay/{payment_id}",
                "e": expired,
                "i": investment,
            },
        )
    return investment, reference


async def states(api: Api, ids: list[int]) -> dict[int, str]:
    async with api.runtime.sessions() as session:
        rows = await session.execute(
            text("SELECT id, state FROM investments WHERE id = ANY(:i)"), {"i": ids}
        )
        return {int(r[0]): str(r[1]) for r in rows}


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("not reached in time")


async def test_expired_orders_settled_by_the_scheduler_survive_a_kill_9(
    api: Api, world: World, sandbox: Sandbox, redis_url: str
) -> None:
    pending = [await expired_order(api, world, sandbox, "pending") for _ in range(3)]
    paid = [await expired_order(api, world, sandbox, "paid") for _ in range(3)]
    ids = [i for i, _ in pending + paid]
    sandbox.world.billbitts.faults.set(always="slow:0.7")  # a pass takes seconds
    with tempfile.TemporaryFile() as first_log, tempfile.TemporaryFile() as second_log:
        first = scheduler(api, redis_url, sandbox, first_log)
        try:

            async def one_moved() -> bool:
                return any(s != "pending_payment" for s in (await states(api, ids)).values())

            await until(one_moved)
            first.kill()  # kill -9 in the middle of the pass
            first.wait(20)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(20)
        assert "pending_payment" in (await states(api, ids)).values()  # work was left
        sandbox.world.billbitts.faults.clear()
        second = scheduler(api, redis_url, sandbox, second_log)
        try:

            async def all_settled() -> bool:
                async with api.runtime.sessions() as session:
                    owed = await session.scalar(
                        text(
                            "SELECT count(*) FROM investments WHERE id = ANY(:i) AND "
                            "(state = 'pending_payment' OR payment_cancel_at IS NOT NULL)"
                        ),
                        {"i": ids},
                    )
                return int(owed or 0) == 0

            await until(all_settled, seconds=150)
        finally:
            second.terminate()
            assert second.wait(60) == 0
    for investment, reference in pending:
        seen = await counts(api, investment, reference)
        assert (seen.state, seen.intents) == ("cancelled", ())
        assert seen.notifications == (f"investment_cancelled:inv:{investment}",)
        assert sandbox.world.billbitts.payments[reference]["status"] == "cancelled"
    for investment, reference in paid:
        seen = await counts(api, investment, reference)
        assert (seen.state, seen.intents) == ("paid", ("invest", "issue"))
        assert seen.notifications == (f"payment_confirmed:inv:{investment}",)
        assert sandbox.world.billbitts.payments[reference]["status"] == "paid"

"""submitInvestment → BillBitts payment request (sandbox) → the paid webhook, over real HTTP.

BillBitts up: the answer carries the payment page. BillBitts down: the order is accepted all
the same, with `paymentUrl: null`; the worker fills it in when BillBitts is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text

from dpo.payments.requests import request_due
from dpo.providers.breaker import Breakers
from dpo.providers.factory import billbitts_client
from dpo.settings import Settings
from sandbox.server import Sandbox
from tests.e2e.http_seed import World, seed
from tests.e2e.http_world import Caller, serve
from tests.e2e.webhook_world import WEBHOOK_SECRET, counts
from tests.integration.api.committed import Api

SUBMIT = """mutation($input: SubmitInvestmentInput!) { submitInvestment(input: $input) {
  id state paymentReference paymentId paymentUrl paymentExpiresAt paymentStatus } }"""
FAST = {
    "PROVIDER_RETRY_ATTEMPTS": "2",
    "PROVIDER_RETRY_WAIT_INITIAL": "0.01",
    "PROVIDER_RETRY_WAIT_MAX": "0.05",
    "BILLBITTS_TIMEOUT": "2",
    "PROVIDER_BREAKER_THRESHOLD": "1000",
}


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("billbitts") / "billbitts.pem"
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def sandbox(key_path: Path) -> Iterator[Sandbox]:
    server = Sandbox().start()
    server.world.billbitts.use_public_key(key_path.read_bytes())
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


def settings_env(sandbox: Sandbox, key_path: Path) -> dict[str, str]:
    return {
        "BILLBITTS_API_URL": sandbox.environment()["BILLBITTS_API_URL"],
        "BILLBITTS_API_KEY": sandbox.world.keys["BILLBITTS_API_KEY"],
        "BILLBITTS_PRIVATE_KEY_PATH": str(key_path),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        **FAST,
    }


@pytest.fixture(scope="module")
def web_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("payments-web") / "web.log"


@pytest.fixture(scope="module")
async def callers(
    api: Api, world: World, redis_url: str, sandbox: Sandbox, key_path: Path, web_log: Path
) -> AsyncIterator[dict[str, Caller]]:
    extra = settings_env(sandbox, key_path)
    async with serve(api, world, redis_url, log_path=web_log, **extra) as callers:
        base = str(callers["investor"].client.base_url).rstrip("/")
        sandbox.world.billbitts.plant(
            {
                "webhook": {
                    "url": f"{base}/webhooks/billbitts",
                    "secrets": [WEBHOOK_SECRET],
                    "retry_wait": 0.2,
                }
            }
        )
        yield callers


async def submit(caller: Caller, world: World, amount: str = "100") -> dict[str, Any]:
    data = await caller.data(
        SUBMIT,
        input={
            "offeringId": world.gid("Offering", "acme_open"),
            "amount": amount,
            "currency": "EUR",
        },
    )
    result: dict[str, Any] = data["submitInvestment"]
    return result


async def wait_for(check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_the_answer_carries_the_payment_page(
    callers: dict[str, Caller], world: World, sandbox: Sandbox
) -> None:
    sandbox.world.billbitts.faults.clear()
    order = await submit(callers["investor"], world)
    assert order["state"] == "PENDING_PAYMENT"
    assert order["paymentStatus"] == "PENDING"
    assert order["paymentId"].startswith("pay_sbx_")
    assert order["paymentUrl"].endswith(f"/billbitts/pay/{order['paymentId']}")
    assert order["paymentExpiresAt"]
    stored = sandbox.world.billbitts.payments[order["paymentReference"]]
    assert stored["id"] == order["paymentId"]
    assert all(r["authorised"] for r in sandbox.world.billbitts.requests)
    # The hosted page shows the order and pays it.
    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(order["paymentUrl"])
        assert order["paymentReference"] in page.text
        assert (await client.post(order["paymentUrl"])).status_code == 200


async def test_billbitts_down_the_order_is_accepted_and_the_page_follows(
    api: Api,
    callers: dict[str, Caller],
    world: World,
    sandbox: Sandbox,
    key_path: Path,
    redis_url: str,
) -> None:
    sandbox.world.billbitts.faults.set(always="503")
    order = await submit(callers["investor"], world)
    assert order["state"] == "PENDING_PAYMENT"
    assert (order["paymentUrl"], order["paymentId"], order["paymentStatus"]) == (None, None, None)
    async with api.runtime.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT id, payment_attempts, payment_error FROM investments "
                    "WHERE payment_reference = :r"
                ),
                {"r": order["paymentReference"]},
            )
        ).one()
        await session.execute(
            text("UPDATE investments SET payment_next_attempt_at = now() WHERE id = :i"),
            {"i": row.id},
        )
        await session.commit()
    assert row.payment_attempts == 1
    assert "billbitts" in row.payment_error
    sandbox.world.billbitts.faults.clear()
    settings = Settings.model_validate({**settings_env(sandbox, key_path)})
    client = billbitts_client(settings, breakers=Breakers(threshold=1000, reset_seconds=1))
    try:
        done = await request_due(api.runtime.sessions, client, expiry_seconds=3600)
    finally:
        await client.http.aclose()
    assert done.created >= 1
    found = await callers["investor"].data(
        "query($id: ID!) { node(id: $id) { ... on Investment { paymentUrl paymentStatus } } }",
        id=order["id"],
    )
    assert found["node"]["paymentStatus"] == "PENDING"
    assert found["node"]["paymentUrl"].startswith(sandbox.url)
    async with api.runtime.sessions() as session:
        message = await session.scalar(
            text("SELECT fields->>'paymentUrl' FROM notifications WHERE key = :k"),
            {"k": f"investment_received:inv:{row.id}"},
        )
    assert message == found["node"]["paymentUrl"]


async def test_paying_on_the_sandbox_page_makes_the_order_paid_through_the_webhook(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox
) -> None:
    sandbox.world.billbitts.faults.clear()
    await wait_for(lambda: asyncio.sleep(0, not sandbox.world.billbitts.webhooks.busy))
    sandbox.world.billbitts.webhooks.log.clear()
    sandbox.world.billbitts.webhooks.faults.set({"duplicates": 3, "bad_signature": 1, "stale": 1})
    order = await submit(callers["investor"], world)
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(order["paymentUrl"])).status_code == 200
    async with api.runtime.sessions() as session:
        investment_id = int(
            await session.scalar(
                text("SELECT id FROM investments WHERE payment_reference = :r"),
                {"r": order["paymentReference"]},
            )
            or 0
        )

    async def paid() -> bool:
        return (await counts(api, investment_id, order["paymentReference"])).state == "paid"

    assert await wait_for(paid)
    await wait_for(lambda: asyncio.sleep(0, not sandbox.world.billbitts.webhooks.busy))
    after = await counts(api, investment_id, order["paymentReference"])
    assert after.intents == ("invest", "issue")
    assert after.deliveries == 1
    statuses = [d["status"] for d in sandbox.world.billbitts.webhooks.log]
    assert 401 in statuses  # the forged and stale first attempts were refused
    assert statuses.count(200) == 3  # three copies, one stored


async def test_no_secret_in_the_log_answers_or_metrics(
    callers: dict[str, Caller], world: World, sandbox: Sandbox, key_path: Path, web_log: Path
) -> None:
    sandbox.world.billbitts.faults.set(always="401")  # BillBitts refuses: errors are logged
    answer = await callers["investor"].post(
        SUBMIT,
        input={
            "offeringId": world.gid("Offering", "acme_open"),
            "amount": "100",
            "currency": "EUR",
        },
    )
    sandbox.world.billbitts.faults.clear()
    metrics = await callers["anonymous"].client.get("/metrics")
    assert 'dpo_provider_calls_total{outcome="rejected",provider="billbitts"}' in metrics.text
    pem, log = await asyncio.to_thread(
        lambda: (key_path.read_text(), web_log.read_text(errors="replace"))
    )
    body = "".join(pem.splitlines()[1:-1])
    for seen in (log, metrics.text, answer.text):
        assert sandbox.world.keys["BILLBITTS_API_KEY"] not in seen
        assert WEBHOOK_SECRET not in seen
        assert body not in seen
        assert str(key_path) not in seen

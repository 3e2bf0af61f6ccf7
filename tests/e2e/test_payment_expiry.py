"""Expiry and cancellation against the sandbox BillBitts, a real `dpo web` and PostgreSQL.

An order past its payment's expiry that BillBitts never announced is checked with BillBitts
and settled (cancelled, or paid after all); `cancelInvestment` closes the BillBitts page too,
retried while BillBitts is down; a cancel or an expiry racing a `paid` webhook ends in exactly
one of the outcomes the state machine allows, with rows that agree.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text

from dpo.payments.expiry import expire_due
from dpo.payments.remote_cancel import cancel_due
from dpo.providers.billbitts import BillBittsClient
from dpo.providers.breaker import Breakers
from dpo.providers.factory import billbitts_client
from dpo.settings import Settings
from jobs.payments import payment_pass
from sandbox.server import Sandbox
from tests.e2e.billbitts_world import CANCEL, GRACE, due_now, expire, row, submit
from tests.e2e.http_seed import World, seed
from tests.e2e.http_world import Caller, code_of, serve
from tests.e2e.test_payment_requests import settings_env
from tests.e2e.webhook_world import body_for, counts, post, signed
from tests.integration.api.committed import Api


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("billbitts-expiry") / "billbitts.pem"
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


@pytest.fixture(scope="module")
async def callers(
    api: Api,
    world: World,
    redis_url: str,
    sandbox: Sandbox,
    key_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, Caller]]:
    log = tmp_path_factory.mktemp("expiry-web") / "web.log"
    async with serve(
        api, world, redis_url, log_path=log, **settings_env(sandbox, key_path)
    ) as callers:
        yield callers


@pytest.fixture
async def client(sandbox: Sandbox, key_path: Path) -> AsyncIterator[BillBittsClient]:
    sandbox.world.billbitts.faults.clear()
    settings = Settings.model_validate({**settings_env(sandbox, key_path)})
    found = billbitts_client(settings, breakers=Breakers(threshold=1000, reset_seconds=1))
    yield found
    await found.http.aclose()
    sandbox.world.billbitts.faults.clear()


async def test_expired_while_billbitts_stayed_silent_is_cancelled_and_the_page_closed(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    order = await submit(callers["investor"], world)
    investment = await expire(api, order["paymentReference"])
    done = await expire_due(api.runtime.sessions, client, grace_seconds=GRACE)
    assert done.changed >= 1
    after = await row(api, order["paymentReference"])
    assert (after.state, after.payment_status) == ("cancelled", "expired")
    assert after.payment_cancel_at is not None  # BillBitts still offered the page
    notes = (await counts(api, investment, order["paymentReference"])).notifications
    assert f"investment_cancelled:inv:{investment}" in notes
    assert (await cancel_due(api.runtime.sessions, client)).closed >= 1
    assert sandbox.world.billbitts.payments[order["paymentReference"]]["status"] == "cancelled"
    assert (await row(api, order["paymentReference"])).payment_cancel_at is None
    paths = [
        r["path"]
        for r in sandbox.world.billbitts.requests
        if r["method"] != "POST" or r["path"].endswith("/cancel")
    ]
    assert f"/billbitts/v1/payment-requests/{order['paymentId']}" in paths
    assert f"/billbitts/v1/payment-requests/{order['paymentId']}/cancel" in paths
    # Seen by the investor as cancelled, the same state the API shows.
    node = await callers["investor"].data(
        "query($id: ID!) { node(id: $id) { ... on Investment { state paymentStatus } } }",
        id=order["id"],
    )
    assert node["node"] == {"state": "CANCELLED", "paymentStatus": "EXPIRED"}


async def test_within_the_grace_nothing_is_asked_or_changed(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    order = await submit(callers["investor"], world)
    await expire(api, order["paymentReference"], ago=GRACE - 120)
    sandbox.world.billbitts.requests.clear()
    await expire_due(api.runtime.sessions, client, grace_seconds=GRACE)
    assert (await row(api, order["paymentReference"])).state == "pending_payment"
    assert not any(order["paymentId"] in r["path"] for r in sandbox.world.billbitts.requests)


async def test_expired_but_paid_at_billbitts_is_issued_not_cancelled(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    order = await submit(callers["investor"], world)
    billbitts = sandbox.world.billbitts
    billbitts.settle(billbitts.payments[order["paymentReference"]], "paid", webhook=False)
    investment = await expire(api, order["paymentReference"])
    await expire_due(api.runtime.sessions, client, grace_seconds=GRACE)
    after = await counts(api, investment, order["paymentReference"])
    assert (after.state, after.intents) == ("paid", ("invest", "issue"))
    assert after.notifications == (
        f"investment_received:inv:{investment}",
        f"payment_confirmed:inv:{investment}",
    )
    assert (await row(api, order["paymentReference"])).payment_cancel_at is None
    # BillBitts' webhook, late: a duplicate of what the status said; nothing more is issued.
    client_http = callers["anonymous"].client
    late = body_for("payment.paid", order["paymentReference"], payment_id=order["paymentId"])
    assert (await post(client_http, late, signed(late))).json()["status"] == "ignored"
    again = await counts(api, investment, order["paymentReference"])
    assert (again.state, again.intents) == ("paid", ("invest", "issue"))


async def test_billbitts_down_during_the_expiry_check_changes_nothing_until_it_answers(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    order = await submit(callers["investor"], world)
    await expire(api, order["paymentReference"])
    sandbox.world.billbitts.faults.set(always="503")
    done = await expire_due(api.runtime.sessions, client, grace_seconds=GRACE)
    assert done.waiting >= 1
    waiting = await row(api, order["paymentReference"])
    assert waiting.state == "pending_payment"
    assert "billbitts" in waiting.payment_error
    assert waiting.payment_check_at is not None
    # Not asked again before its time, even with BillBitts back.
    sandbox.world.billbitts.faults.clear()
    await expire_due(api.runtime.sessions, client, grace_seconds=GRACE)
    assert (await row(api, order["paymentReference"])).state == "pending_payment"
    await due_now(api, order["paymentReference"], "payment_check_at")
    await expire_due(api.runtime.sessions, client, grace_seconds=GRACE)
    assert (await row(api, order["paymentReference"])).state == "cancelled"


async def test_cancel_investment_cancels_the_billbitts_request(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox
) -> None:
    sandbox.world.billbitts.faults.clear()
    order = await submit(callers["investor"], world)
    cancelled = await callers["investor"].data(CANCEL, id=order["id"])
    assert cancelled["cancelInvestment"]["state"] == "CANCELLED"
    assert sandbox.world.billbitts.payments[order["paymentReference"]]["status"] == "cancelled"
    call = [
        r
        for r in sandbox.world.billbitts.requests
        if r["path"].endswith(f"{order['paymentId']}/cancel")
    ]
    assert len(call) == 1
    assert call[0]["authorised"]
    assert call[0].get("signed", True)
    after = await row(api, order["paymentReference"])
    assert (after.payment_cancel_at, after.payment_status) == (None, "pending")
    notes = (await counts(api, after.id, order["paymentReference"])).notifications
    assert f"investment_cancelled:inv:{after.id}" in notes


async def test_billbitts_down_during_cancel_the_local_cancel_holds_and_the_remote_is_retried(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    order = await submit(callers["investor"], world)
    sandbox.world.billbitts.faults.set(always="503")
    cancelled = await callers["investor"].data(CANCEL, id=order["id"])
    assert cancelled["cancelInvestment"]["state"] == "CANCELLED"
    assert sandbox.world.billbitts.payments[order["paymentReference"]]["status"] == "pending"
    owed = await row(api, order["paymentReference"])
    assert owed.state == "cancelled"
    assert owed.payment_cancel_attempts == 1
    assert "billbitts" in owed.payment_error
    # Still down: another attempt, a longer wait.
    await due_now(api, order["paymentReference"], "payment_cancel_at")
    assert (await cancel_due(api.runtime.sessions, client)).retrying >= 1
    assert (await row(api, order["paymentReference"])).payment_cancel_attempts == 2
    sandbox.world.billbitts.faults.clear()
    await due_now(api, order["paymentReference"], "payment_cancel_at")
    assert (await cancel_due(api.runtime.sessions, client)).closed >= 1
    assert sandbox.world.billbitts.payments[order["paymentReference"]]["status"] == "cancelled"
    done = await row(api, order["paymentReference"])
    assert (done.state, done.payment_cancel_at, done.payment_error) == ("cancelled", None, None)
    # A repeat of the whole cancel is refused, and BillBitts is not asked again.
    again = await callers["investor"].post(CANCEL, id=order["id"])
    assert code_of(again) == "CONFLICT"


async def test_cancel_investment_racing_a_paid_webhook_ends_one_way_or_the_other(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox
) -> None:
    sandbox.world.billbitts.faults.clear()
    orders = [await submit(callers["investor"], world) for _ in range(16)]
    http = callers["anonymous"].client

    async def race(order: dict[str, Any]) -> tuple[str | None, int]:
        body = body_for("payment.paid", order["paymentReference"], payment_id=order["paymentId"])
        tasks = [callers["investor"].post(CANCEL, id=order["id"]), post(http, body, signed(body))]
        random.shuffle(tasks)
        answers = await asyncio.gather(*tasks)
        cancel = next(a for a in answers if a.url.path == "/graphql")
        hook = next(a for a in answers if a.url.path != "/graphql")
        return code_of(cancel), hook.status_code

    results = await asyncio.gather(*[race(o) for o in orders])
    outcomes = set()
    for order, (cancel_code, hook_status) in zip(orders, results, strict=True):
        assert hook_status == 200
        found = await row(api, order["paymentReference"])
        seen = await counts(api, found.id, order["paymentReference"])
        async with api.runtime.sessions() as session:
            delivery = (
                await session.execute(
                    text(
                        "SELECT status, error FROM webhook_deliveries "
                        "WHERE payload->'data'->>'reference' = :r"
                    ),
                    {"r": order["paymentReference"]},
                )
            ).one()
        if cancel_code is None:  # the cancel committed first: paid goes to ops
            outcomes.add("cancelled")
            assert (found.state, seen.intents) == ("cancelled", ())
            assert (delivery.status, delivery.error) == (
                "failed",
                "paid after the investor cancelled: refund it",
            )
            assert f"investment_cancelled:inv:{found.id}" in seen.notifications
        else:  # paid committed first: the cancel is refused, the order is issued
            outcomes.add("paid")
            assert cancel_code == "CONFLICT"
            assert (found.state, seen.intents) == ("paid", ("invest", "issue"))
            assert delivery.status == "processed"
            assert seen.notifications == (
                f"investment_received:inv:{found.id}",
                f"payment_confirmed:inv:{found.id}",
            )
            assert found.payment_cancel_at is None
        assert seen.deliveries == 1
    assert outcomes  # every order ended in exactly one of the two


async def test_expiry_racing_a_paid_webhook_ends_paid_and_issued_once(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    orders = [await submit(callers["investor"], world) for _ in range(16)]
    ids = {o["paymentReference"]: await expire(api, o["paymentReference"]) for o in orders}
    http = callers["anonymous"].client
    billbitts = sandbox.world.billbitts

    async def pay(order: dict[str, Any]) -> int:
        await asyncio.sleep(random.uniform(0, 0.05))
        billbitts.settle(billbitts.payments[order["paymentReference"]], "paid", webhook=False)
        body = body_for("payment.paid", order["paymentReference"], payment_id=order["paymentId"])
        return (await post(http, body, signed(body))).status_code

    async def expiry() -> None:
        for _ in range(3):
            await expire_due(api.runtime.sessions, client, grace_seconds=GRACE, limit=8)

    answers = await asyncio.gather(*[pay(o) for o in orders], expiry(), expiry())
    assert set(answers[: len(orders)]) == {200}
    for reference, investment in ids.items():
        seen = await counts(api, investment, reference)
        assert (seen.state, seen.intents) == ("paid", ("invest", "issue")), reference
        assert f"payment_confirmed:inv:{investment}" in seen.notifications
        assert seen.deliveries == 1
    async with api.runtime.sessions() as session:
        issues = await session.scalar(
            text(
                "SELECT count(*) FROM chain_intents "
                "WHERE kind = 'issue' AND investment_id = ANY(:i)"
            ),
            {"i": list(ids.values())},
        )
    assert issues == len(orders)


async def test_one_pass_of_the_payment_worker_expires_and_closes_the_page(
    api: Api, callers: dict[str, Caller], world: World, sandbox: Sandbox, client: BillBittsClient
) -> None:
    order = await submit(callers["investor"], world)
    await expire(
        api, order["paymentReference"], ago=api.runtime.settings.payment_expiry_grace_seconds + 60
    )
    await payment_pass(api.runtime, client)
    after = await row(api, order["paymentReference"])
    assert (after.state, after.payment_status, after.payment_cancel_at) == (
        "cancelled",
        "expired",
        None,
    )
    assert sandbox.world.billbitts.payments[order["paymentReference"]]["status"] == "cancelled"

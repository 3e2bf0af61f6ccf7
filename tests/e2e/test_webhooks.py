"""POST /webhooks/billbitts on a real `dpo web`: hostile deliveries change nothing, good ones
change the order once, whatever the repetition, order or concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from dpo.payments.signature import HEADER, compute
from tests.e2e.conftest import base_env, web_server
from tests.e2e.http_seed import HMAC_SECRET, SECRET, World, seed
from tests.e2e.http_world import error_lines, fingerprint
from tests.e2e.webhook_world import (
    PATH,
    WEBHOOK_SECRET,
    body_for,
    counts,
    event_id,
    new_order,
    post,
    rows,
    signed,
)
from tests.integration.api.committed import Api

Server = tuple[httpx.AsyncClient, Path]


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


@pytest.fixture(scope="module")
async def server(
    api: Api, world: World, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    log = tmp_path_factory.mktemp("webhooks") / "web.log"
    env = base_env(
        DATABASE_URL=api.url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET,
        API_HMAC_SECRET=HMAC_SECRET,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    with web_server(env, log_path=log) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            yield client, log


async def order(api: Api, world: World) -> tuple[int, str]:
    return await new_order(
        api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
    )


def _forged(body: bytes) -> dict[str, str]:
    return signed(body, secrets_=["not-our-secret"])


def _stale(body: bytes) -> dict[str, str]:
    return signed(body, at=int(time.time()) - 301)


def _future(body: bytes) -> dict[str, str]:
    return signed(body, at=int(time.time()) + 301)


def _no_header(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _malformed(body: bytes) -> dict[str, str]:
    return {HEADER: "t=abc,v1=zz", "Content-Type": "application/json"}


def _no_v1(body: bytes) -> dict[str, str]:
    return {HEADER: f"t={int(time.time())}", "Content-Type": "application/json"}


def _text_plain(body: bytes) -> dict[str, str]:
    return {**signed(body), "Content-Type": "text/plain"}


def _form(body: bytes) -> dict[str, str]:
    return {**signed(body), "Content-Type": "application/x-www-form-urlencoded"}


def _signature_of_other_time(body: bytes) -> dict[str, str]:
    now = int(time.time())
    return {
        HEADER: f"t={now},v1={compute(WEBHOOK_SECRET.encode(), now - 5, body)}",
        "Content-Type": "application/json",
    }


HOSTILE: dict[str, tuple[Callable[[bytes], dict[str, str]], int]] = {
    "forged": (_forged, 401),
    "stale": (_stale, 401),
    "future": (_future, 401),
    "no_header": (_no_header, 400),
    "malformed_header": (_malformed, 400),
    "no_v1": (_no_v1, 400),
    "text_plain": (_text_plain, 415),
    "form": (_form, 415),
    "other_timestamp": (_signature_of_other_time, 401),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_delivery_is_refused_and_changes_nothing(
    api: Api, world: World, server: Server, case: str
) -> None:
    client, log = server
    _, reference = await order(api, world)
    body = body_for("payment.paid", reference)
    make, status = HOSTILE[case]
    before, start = await fingerprint(api), log.stat().st_size
    response = await post(client, body, make(body))
    assert response.status_code == status, response.text
    assert response.json()["received"] is False
    assert await fingerprint(api) == before
    assert error_lines(log, start) == []


async def test_a_body_changed_after_signing_is_refused(
    api: Api, world: World, server: Server
) -> None:
    client, _ = server
    _, reference = await order(api, world)
    body = body_for("payment.paid", reference)
    headers = signed(body)
    before = await fingerprint(api)
    tampered = body.replace(b'"amount":"100"', b'"amount":"1"')
    assert tampered != body
    assert (await post(client, tampered, headers)).status_code == 401
    assert await fingerprint(api) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"id":"evt_x"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"id":"evt_x","type":"payment.paid","created":1,"data":{"reference":"DPO-X"}}',
        b'{"id":"evt x","type":"payment.paid","created":1}',
        b"",
    ],
)
async def test_a_signed_body_that_is_not_an_event_is_400_and_changes_nothing(
    api: Api, server: Server, body: bytes
) -> None:
    client, _ = server
    before = await fingerprint(api)
    response = await post(client, body, signed(body))
    assert response.status_code == 400, response.text
    assert await fingerprint(api) == before


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_huge_body_is_refused_before_it_is_read_whole(
    api: Api, server: Server, chunked: bool
) -> None:
    client, _ = server
    body = b'{"id":"evt_big","type":"x","created":1,"data":{"pad":"' + b"a" * 200_000 + b'"}}'
    before = await fingerprint(api)
    if chunked:

        async def stream() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 16_384):
                yield body[start : start + 16_384]

        response = await client.post(PATH, content=stream(), headers=signed(body))
    else:
        response = await post(client, body, signed(body))
    assert response.status_code == 413
    assert await fingerprint(api) == before


async def test_an_unknown_event_type_is_acknowledged_and_ignored(
    api: Api, world: World, server: Server
) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    body = body_for("payment.disputed", reference)
    stored = await rows(api, "webhook_deliveries")
    response = await post(client, body, signed(body))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    after = await counts(api, investment, reference)
    assert (after.state, after.intents, after.notifications) == ("pending_payment", (), ())
    assert await rows(api, "webhook_deliveries") == stored + 1


async def test_any_v1_of_a_rotation_is_accepted(api: Api, world: World, server: Server) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    body = body_for("payment.failed", reference)
    response = await post(client, body, signed(body, secrets_=["old-secret", WEBHOOK_SECRET]))
    assert response.status_code == 200, response.text
    assert (await counts(api, investment, reference)).state == "cancelled"


async def test_one_issuance_whatever_is_delivered(api: Api, world: World, server: Server) -> None:
    """Paid 5 times (3 at once), out of order with a late expiry, forged and stale copies."""
    client, log = server
    investment, reference = await order(api, world)
    paid = body_for("payment.paid", reference)
    expired = body_for("payment.expired", reference)
    start = log.stat().st_size
    assert (await post(client, paid, _forged(paid))).status_code == 401
    assert (await post(client, paid, _stale(paid))).status_code == 401
    assert (await counts(api, investment, reference)).deliveries == 0
    answers = await asyncio.gather(*[post(client, paid, signed(paid)) for _ in range(3)])
    assert sorted(r.status_code for r in answers) == [200, 200, 200]
    assert sorted(r.json()["duplicate"] for r in answers) == [False, True, True]
    for _ in range(2):
        again = await post(client, paid, signed(paid))
        assert again.json() == {"received": True, "duplicate": True, "status": "duplicate"}
    late = await post(client, expired, signed(expired))
    assert late.json()["status"] == "ignored"
    # The same event again under a new id (BillBitts re-sent it as a new event).
    copy = body_for("payment.paid", reference)
    assert (await post(client, copy, signed(copy))).json()["status"] == "ignored"
    after = await counts(api, investment, reference)
    assert after.state == "paid"
    assert after.intents == ("invest", "issue")
    assert after.notifications == (f"payment_confirmed:inv:{investment}",)
    assert after.deliveries == 3  # paid, expired, the copy: one row per event id
    assert error_lines(log, start) == []


@pytest.mark.parametrize("order_of", [["expired", "paid"], ["failed", "paid"], ["paid", "expired"]])
async def test_out_of_order_expiry_and_payment_end_paid_and_issued_once(
    api: Api, world: World, server: Server, order_of: list[str]
) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    for kind in order_of:
        body = body_for(f"payment.{kind}", reference)
        assert (await post(client, body, signed(body))).status_code == 200
    after = await counts(api, investment, reference)
    assert (after.state, after.intents) == ("paid", ("invest", "issue"))


async def test_paid_after_the_investor_cancelled_goes_to_ops(
    api: Api, world: World, server: Server
) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    async with api.runtime.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE investments SET state = 'cancelled' WHERE id = :i"), {"i": investment}
        )
    body = body_for("payment.paid", reference)
    response = await post(client, body, signed(body))
    assert response.json()["status"] == "failed"
    after = await counts(api, investment, reference)
    assert (after.state, after.intents, after.deliveries) == ("cancelled", (), 1)


@pytest.mark.parametrize("sequence", [["paid", "refunded"], ["refunded", "paid"]])
async def test_a_refund_before_issuance_ends_refunded(
    api: Api, world: World, server: Server, sequence: list[str]
) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    for kind in sequence:
        body = body_for(f"payment.{kind}", reference)
        assert (await post(client, body, signed(body))).status_code == 200
    after = await counts(api, investment, reference)
    assert after.state == "refunded"
    # Paid first: its intents were owed and are now cancelled; refunded first: none at all.
    assert after.intents == (("invest", "issue") if sequence[0] == "paid" else ())


async def test_a_payment_of_another_amount_is_not_applied(
    api: Api, world: World, server: Server
) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    body = body_for("payment.paid", reference, amount="99.99")
    assert (await post(client, body, signed(body))).json()["status"] == "failed"
    after = await counts(api, investment, reference)
    assert (after.state, after.intents) == ("pending_payment", ())


async def test_concurrent_copies_of_one_event_store_one_row(
    api: Api, world: World, server: Server
) -> None:
    client, _ = server
    investment, reference = await order(api, world)
    eid = event_id()
    body = body_for("payment.paid", reference, eid=eid)
    answers = await asyncio.gather(*[post(client, body, signed(body)) for _ in range(20)])
    assert {r.status_code for r in answers} == {200}
    assert sum(not r.json()["duplicate"] for r in answers) == 1
    after = await counts(api, investment, reference)
    assert (after.state, after.deliveries, after.intents) == ("paid", 1, ("invest", "issue"))


async def test_the_secret_is_in_no_log_answer_or_metric(
    api: Api, world: World, server: Server
) -> None:
    client, log = server
    _, reference = await order(api, world)
    body = body_for("payment.paid", reference)
    answers = [await post(client, body, make(body)) for make, _ in HOSTILE.values()]
    answers.append(await post(client, body, signed(body)))
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'dpo_webhook_deliveries_total{outcome="signature_mismatch",provider="billbitts"}'
        in metrics.text
    )
    texts = [log.read_text(errors="replace"), metrics.text, *(r.text for r in answers)]
    expected = compute(WEBHOOK_SECRET.encode(), int(time.time()), body)
    for seen in texts:
        assert WEBHOOK_SECRET not in seen
        assert expected not in seen

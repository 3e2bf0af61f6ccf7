"""`webhookDeliveries` on a real `dpo web`: the deliveries ops must act on, and nothing secret.

Deliveries are made through POST /webhooks/billbitts itself (signed), so the rows are the ones
the handler writes: a paid order, a paid order delivered again, a paid event for an order the
investor cancelled and one for another amount (both `failed`, kept with the reason), and an
unknown type (`ignored`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.http_seed import World, seed
from tests.e2e.http_world import Caller, code_of, error_lines, fingerprint, serve
from tests.e2e.webhook_world import WEBHOOK_SECRET, body_for, new_order, post, signed
from tests.integration.api.committed import Api

QUERY = """query($status: WebhookDeliveryStatus, $first: Int, $after: String, $last: Int,
  $before: String) { webhookDeliveries(status: $status, first: $first, after: $after,
  last: $last, before: $before) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id provider eventId eventType status reason receivedAt processedAt
  paymentReference investmentId } } } }"""


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


@pytest.fixture(scope="module")
def web_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deliveries") / "web.log"


@pytest.fixture(scope="module")
async def callers(
    api: Api, world: World, redis_url: str, web_log: Path
) -> AsyncIterator[dict[str, Caller]]:
    async with serve(
        api, world, redis_url, log_path=web_log, WEBHOOK_SECRET=WEBHOOK_SECRET
    ) as callers:
        yield callers


@pytest.fixture(scope="module")
async def made(api: Api, world: World, callers: dict[str, Caller]) -> dict[str, Any]:
    """The deliveries, made once for the module: {name: (event id, reference, order id)}."""
    client = callers["anonymous"].client
    made: dict[str, Any] = {}

    async def deliver(
        name: str, kind: str, *, amount: str = "100", cancelled: bool = False, copies: int = 1
    ) -> None:
        order_id, reference = await new_order(
            api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
        )
        if cancelled:
            async with api.runtime.sessions() as session, session.begin():
                await session.execute(
                    text("UPDATE investments SET state = 'cancelled' WHERE id = :i"),
                    {"i": order_id},
                )
        body = body_for(kind, reference, amount=amount)
        for _ in range(copies):
            assert (await post(client, body, signed(body))).status_code == 200
        event = body.split(b'"id":"')[1].split(b'"')[0].decode()
        made[name] = (event, reference, order_id)

    await deliver("paid", "payment.paid", copies=3)
    await deliver("after_cancel", "payment.paid", cancelled=True)
    await deliver("wrong_amount", "payment.paid", amount="99")
    await deliver("unknown", "payment.disputed")
    return made


async def page(caller: Caller, **variables: Any) -> dict[str, Any]:
    data = await caller.data(QUERY, **variables)
    found: dict[str, Any] = data["webhookDeliveries"]
    return found


async def test_ops_see_the_failed_deliveries_with_their_reasons(
    callers: dict[str, Caller], made: dict[str, Any]
) -> None:
    failed = await page(callers["ops"], status="FAILED")
    by_event = {e["node"]["eventId"]: e["node"] for e in failed["edges"]}
    assert set(by_event) == {made["after_cancel"][0], made["wrong_amount"][0]}
    assert failed["totalCount"] == 2
    cancelled = by_event[made["after_cancel"][0]]
    assert cancelled["reason"] == "paid after the investor cancelled: refund it"
    assert cancelled["paymentReference"] == made["after_cancel"][1]
    assert cancelled["eventType"] == "payment.paid"
    assert cancelled["provider"] == "billbitts"
    assert cancelled["receivedAt"]
    assert cancelled["processedAt"]
    assert "differs" in by_event[made["wrong_amount"][0]]["reason"]
    # The investment is addressable: node(id) finds the order the delivery is about.
    found = await callers["ops"].data(
        "query($id: ID!) { node(id: $id) { ... on Investment { paymentReference state } } }",
        id=cancelled["investmentId"],
    )
    assert found["node"] == {"paymentReference": made["after_cancel"][1], "state": "CANCELLED"}


async def test_each_status_filters_and_a_repeat_is_stored_once(
    callers: dict[str, Caller], made: dict[str, Any]
) -> None:
    every = await page(callers["admin"], first=100)
    events = [e["node"]["eventId"] for e in every["edges"]]
    assert events == [made[n][0] for n in ("unknown", "wrong_amount", "after_cancel", "paid")]
    processed = await page(callers["admin"], status="PROCESSED")
    assert [e["node"]["eventId"] for e in processed["edges"]] == [made["paid"][0]]
    assert processed["edges"][0]["node"]["reason"] == "paid"
    ignored = await page(callers["admin"], status="IGNORED")
    assert [e["node"]["eventId"] for e in ignored["edges"]] == [made["unknown"][0]]
    assert (await page(callers["admin"], status="RECEIVED"))["totalCount"] == 0


async def test_pages_walk_newest_first_without_overlap(
    callers: dict[str, Caller], made: dict[str, Any]
) -> None:
    seen: list[str] = []
    after = None
    while True:
        got = await page(callers["ops"], first=1, after=after)
        seen += [e["node"]["eventId"] for e in got["edges"]]
        if not got["pageInfo"]["hasNextPage"]:
            break
        after = got["pageInfo"]["endCursor"]
    assert seen == [made[n][0] for n in ("unknown", "wrong_amount", "after_cancel", "paid")]
    back = await page(callers["ops"], last=2)
    assert [e["node"]["eventId"] for e in back["edges"]] == seen[2:]


async def test_nothing_of_the_body_or_signature_is_exposed(
    callers: dict[str, Caller], made: dict[str, Any]
) -> None:
    response = await callers["ops"].post(QUERY, first=100)
    assert response.status_code == 200
    assert WEBHOOK_SECRET not in response.text
    for field in ("payload", "body", "signature", "headers"):
        asked = await callers["ops"].post(
            f"{{ webhookDeliveries {{ edges {{ node {{ {field} }} }} }} }}"
        )
        assert code_of(asked) == "VALIDATION", asked.text
    assert '"amount"' not in response.text
    assert "paymentId" not in response.text


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("investor", "FORBIDDEN"),
        ("issuer", "FORBIDDEN"),
        ("api_key", None),
        ("ops", None),
        ("admin", None),
    ],
)
async def test_only_staff_read_them(
    callers: dict[str, Caller], made: dict[str, Any], role: str, expected: str | None
) -> None:
    response = await callers[role].post(QUERY, status="FAILED")
    assert response.status_code == 200
    assert code_of(response) == expected, response.text
    if expected is not None:
        assert response.json()["data"] is None
        assert made["after_cancel"][1] not in response.text


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"first": 10**6}, "LIMIT_EXCEEDED"),  # the query's cost, before anything is read
        ({"first": 2**31}, "LIMIT_EXCEEDED"),  # beyond a 32-bit Int: refused on cost first
        ({"first": 101}, "LIMIT_EXCEEDED"),
        ({"first": -1}, "VALIDATION"),
        ({"first": 1, "last": 1}, "VALIDATION"),
        ({"after": "not-a-cursor"}, "VALIDATION"),
        ({"after": "x" * 5000}, "VALIDATION"),
        ({"before": "eyJvIjoiYnJlYWtzX2J5X2lkIiwiayI6WzFdfQ=="}, "VALIDATION"),  # another ordering
        (
            {"after": "eyJvIjoid2ViaG9va19kZWxpdmVyaWVzX25ld2VzdCIsImsiOlsiMSJdfQ=="},
            "VALIDATION",
        ),  # ours, with a string where the id is
        ({"status": "PAID"}, "VALIDATION"),
        ({"status": "failed"}, "VALIDATION"),
        ({"status": 1}, "VALIDATION"),
    ],
)
async def test_hostile_arguments_get_stable_codes_and_change_nothing(
    api: Api,
    callers: dict[str, Caller],
    made: dict[str, Any],
    web_log: Path,
    variables: dict[str, Any],
    expected: str,
) -> None:
    before = await fingerprint(api)
    start = await asyncio.to_thread(lambda: web_log.stat().st_size)
    response = await callers["ops"].post(QUERY, **variables)
    assert response.status_code in (200, 400), response.text
    got = code_of(response)
    assert got == expected, (variables, response.text)
    assert await fingerprint(api) == before
    assert error_lines(web_log, start) == []

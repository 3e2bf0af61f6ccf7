"""The webhook's transaction on PostgreSQL: it locks the order it applies to and nothing else,
and a repeated event is rolled back whole (dpo.payments.webhooks.receive)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from dpo.db.session import unit_of_work
from dpo.payments.events import parse
from dpo.payments.webhooks import DuplicateDelivery, receive
from tests.e2e.http_seed import World, seed
from tests.e2e.webhook_world import body_for, counts, new_order
from tests.integration.api.committed import Api


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


async def test_an_open_delivery_holds_its_order_only(api: Api, world: World) -> None:
    """Another order of the same investor is applied while the first is still open."""
    first, first_ref = await new_order(
        api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
    )
    second, second_ref = await new_order(
        api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
    )
    release = asyncio.Event()

    async def hold_first() -> None:
        async with unit_of_work(api.runtime.sessions) as session:
            await receive(session, parse(body_for("payment.paid", first_ref)))
            await release.wait()

    holder = asyncio.create_task(hold_first())
    await asyncio.sleep(0.5)  # the first transaction holds its locks now
    try:
        async with asyncio.timeout(20):
            async with unit_of_work(api.runtime.sessions) as session:
                done = await receive(session, parse(body_for("payment.paid", second_ref)))
        assert done.status == "processed"
        async with api.runtime.sessions() as session:
            # Neither the investor's row nor the offering's is locked (NOWAIT would raise).
            locked = await session.scalar(
                text("SELECT id FROM investors WHERE id = :i FOR UPDATE NOWAIT"),
                {"i": world.ids["investor"]},
            )
            assert locked == world.ids["investor"]
            offering = await session.scalar(
                text("SELECT id FROM offerings WHERE id = :i FOR UPDATE NOWAIT"),
                {"i": world.ids["acme_open"]},
            )
            assert offering == world.ids["acme_open"]
            await session.rollback()
    finally:
        release.set()
        await holder
    assert (await counts(api, first, first_ref)).state == "paid"
    assert (await counts(api, second, second_ref)).state == "paid"


async def test_a_repeated_event_is_rolled_back_whole(api: Api, world: World) -> None:
    investment, reference = await new_order(
        api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"]
    )
    event = parse(body_for("payment.failed", reference))
    async with unit_of_work(api.runtime.sessions) as session:
        assert (await receive(session, event)).status == "processed"
    before = await counts(api, investment, reference)
    # The order is put back by hand: the repeat would apply again, but the id is stored.
    async with api.runtime.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE investments SET state = 'pending_payment' WHERE id = :i"),
            {"i": investment},
        )
    with pytest.raises(DuplicateDelivery):
        async with unit_of_work(api.runtime.sessions) as session:
            await receive(session, event)
    after = await counts(api, investment, reference)
    assert after.state == "pending_payment"  # nothing of the repeat was kept
    assert (after.deliveries, after.notifications) == (before.deliveries, before.notifications)

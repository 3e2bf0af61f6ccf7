"""offering_closed enters the outbox with the close, once per investor with a kept order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import Notification
from dpo.notifications import investors as notices
from dpo.services.offering_changes import close_offering
from tests.integration.db import factories
from tests.integration.services.support import admin, make_investor, make_offering


async def outbox(db: AsyncSession) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    rows = (await db.scalars(select(Notification).order_by(Notification.id))).all()
    return {r.key: (r.event, r.email, r.fields) for r in rows}


async def test_closing_an_offering_tells_each_investor_with_a_kept_order_once(
    db: AsyncSession,
) -> None:
    offering = await make_offering(db, onchain_offering_id=4242)
    other = await make_offering(db)
    ada, _ = await make_investor(db)
    bob, _ = await make_investor(db)
    silent, _ = await make_investor(db, email=None)
    gone, _ = await make_investor(db)
    db.add_all(
        [
            factories.investment(investor=ada, offering=offering, state="pending_payment"),
            factories.investment(investor=bob, offering=offering, state="paid"),
            factories.investment(investor=bob, offering=offering, state="issued"),
            factories.investment(investor=silent, offering=offering, state="paid"),
            factories.investment(investor=gone, offering=offering, state="cancelled"),
            factories.investment(investor=gone, offering=other, state="paid"),
        ]
    )
    await db.flush()

    await close_offering(db, principal=admin(), offering_id=offering.id)
    closed = {k: v for k, v in (await outbox(db)).items() if v[0] == "offering_closed"}
    # One each for Ada and Bob (two orders, one message); not the cancelled, not the silent.
    assert sorted(closed) == sorted(
        f"offering_closed:{offering.id}:investor:{i.id}" for i in (ada, bob)
    )
    assert sorted(email or "" for _, email, _ in closed.values()) == sorted(
        [ada.email or "", bob.email or ""]
    )
    assert all(fields["offering"] == offering.name for _, _, fields in closed.values())
    # The STO's close seen by the listener later, or a replay: nothing more.
    assert await notices.offering_closed_onchain(db, onchain_offering_id=4242) == 0
    assert await notices.offering_closed(db, offering_id=offering.id) == 0
    assert await notices.offering_closed_onchain(db, onchain_offering_id=999) == 0

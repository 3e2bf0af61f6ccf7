"""`offering_closed`: every investor with a kept order hears that the offering closed.

Written set-based (one INSERT ... SELECT) in the transaction that closes the offering: the
`closeOffering` mutation's (dpo.services.offerings) or the listener's projection of the STO's
`OfferingClosed`. One message per (offering, investor) key, so a replayed event, a retried
transaction or a close seen both ways adds nothing; investors without an e-mail get none.
It takes an AsyncSession or an AsyncConnection (the listener writes through a connection).
The other investor messages are written where their change happens: `investment_received`
and `payment_confirmed` by dpo.payments, `tokens_issued` by the listener's issue projection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

_OFFERING_CLOSED = text(
    "INSERT INTO notifications (key, audience, event, email, fields) "
    "SELECT DISTINCT ON (v.id) 'offering_closed:' || o.id || ':investor:' || v.id, "
    "'investor', 'offering_closed', v.email, "
    "jsonb_build_object('offering_id', o.id, 'offering', o.name) "
    "FROM offerings o JOIN investments i ON i.offering_id = o.id "
    "JOIN investors v ON v.id = i.investor_id "
    "WHERE o.id = :offering AND i.state IN ('pending_payment', 'paid', 'issued') "
    "AND v.email IS NOT NULL ORDER BY v.id "
    "ON CONFLICT (key) DO NOTHING"
)
_ONCHAIN = text("SELECT id FROM offerings WHERE onchain_offering_id = :onchain")


async def offering_closed(executor: Any, *, offering_id: int) -> int:
    """The offering closed: one message per investor with a kept order; how many added."""
    result = await executor.execute(_OFFERING_CLOSED, {"offering": offering_id})
    return int(getattr(result, "rowcount", 0) or 0)


async def offering_closed_onchain(executor: Any, *, onchain_offering_id: int) -> int:
    """The STO closed the offering it knows by this id."""
    found = (
        await executor.execute(_ONCHAIN, {"onchain": onchain_offering_id})
    ).scalar_one_or_none()
    return 0 if found is None else await offering_closed(executor, offering_id=int(found))

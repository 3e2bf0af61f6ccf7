"""Offering totals and investment states from STO and Issuance events.

Offerings are matched by `onchain_offering_id` only: linking an offering to its on-chain
twin is an explicit back-office step, so `OfferingCreated` projects nothing (it stays in the
feed), and events of unlinked offerings are skipped and counted. Amounts arrive in the
currency's minor unit and are converted by the offering's currency.

Investments are matched by `onchain_reference` (the bytes32 investmentRef, lowercase 0x-hex).
Transitions the chain drives: pending_payment → paid (InvestmentReceived), pending_payment |
paid → issued (Issued, with the investor's `tokens_issued` message in the outbox), paid |
issued → refunded (InvestmentRefunded). A revert recomputes the
state from the timestamps the forward steps set (issued_at, paid_at), so it lands where the
investment was. Offering status: open → closed / cancelled, and back on revert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dpo.notifications import investors as notices
from listener.projections_common import Known, StoredEvent, minor_to_decimal

logger = logging.getLogger(__name__)


async def _run(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> int:
    result = await connection.execute(text(sql), params)
    return int(getattr(result, "rowcount", 0) or 0)


async def _totals(connection: AsyncConnection, event: StoredEvent, sign: int, known: Known) -> int:
    args = event.log.args
    offering = known.offerings.get(int(args["offeringId"]))
    if offering is None:
        return 0
    offering_id, currency = offering
    amount = minor_to_decimal(args["amount"], currency) * sign
    return await _run(
        connection,
        "UPDATE offerings SET amount_raised = amount_raised + :a, "
        "units_sold = units_sold + :u, updated_at = now() WHERE id = :id",
        {"a": amount, "u": int(args["units"]) * sign, "id": offering_id},
    )


_PAID = (
    "UPDATE investments SET state = 'paid', paid_at = :t, tx_hash = :tx, updated_at = now() "
    "WHERE onchain_reference = :r AND state = 'pending_payment'"
)
_UNPAID = (
    "UPDATE investments SET state = 'pending_payment', paid_at = NULL, tx_hash = NULL, "
    "updated_at = now() WHERE onchain_reference = :r AND state = 'paid' AND tx_hash = :tx"
)
_REFUNDED = (
    "UPDATE investments SET state = 'refunded', updated_at = now() "
    "WHERE onchain_reference = :r AND state IN ('paid', 'issued')"
)
# Back to where the forward steps had taken it, read from the timestamps they set.
_UNREFUNDED = (
    "UPDATE investments SET state = CASE WHEN issued_at IS NOT NULL THEN 'issued' "
    "WHEN paid_at IS NOT NULL THEN 'paid' ELSE 'pending_payment' END, updated_at = now() "
    "WHERE onchain_reference = :r AND state = 'refunded'"
)


async def investment_received(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known
) -> bool:
    """Offering raised/units += the investment; the matching investment becomes paid."""
    ref = event.log.args["investmentRef"]
    changed = await _totals(connection, event, -1 if revert else 1, known)
    if ref in known.investment_refs:
        changed += await _run(
            connection,
            _UNPAID if revert else _PAID,
            {"r": ref, "tx": event.log.tx_hash, "t": event.time},
        )
    return changed > 0


async def investment_refunded(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known
) -> bool:
    """Offering raised/units -= the investment; the matching investment becomes refunded."""
    ref = event.log.args["investmentRef"]
    changed = await _totals(connection, event, 1 if revert else -1, known)
    if ref in known.investment_refs:
        changed += await _run(connection, _UNREFUNDED if revert else _REFUNDED, {"r": ref})
    return changed > 0


async def issued(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known
) -> bool:
    """The investment with this investmentRef becomes issued (tx hash kept if already set)."""
    if event.log.args["investmentRef"] not in known.investment_refs:
        return False
    params = {"r": event.log.args["investmentRef"], "tx": event.log.tx_hash, "t": event.time}
    if revert:
        sql = (
            "UPDATE investments SET issued_at = NULL, "
            "state = CASE WHEN paid_at IS NOT NULL THEN 'paid' ELSE 'pending_payment' END, "
            "tx_hash = CASE WHEN tx_hash = :tx THEN NULL ELSE tx_hash END, updated_at = now() "
            "WHERE onchain_reference = :r AND state = 'issued'"
        )
    else:
        sql = (
            "UPDATE investments SET state = 'issued', issued_at = :t, "
            "tx_hash = coalesce(tx_hash, :tx), updated_at = now() "
            "WHERE onchain_reference = :r AND state IN ('pending_payment', 'paid')"
        )
    changed = await _run(connection, sql, params) > 0
    if changed and not revert:
        # The investor hears of it from the same commit; the key makes a replay (a revert
        # and the block back, a rewind) add no second message.
        await _run(connection, _TOKENS_ISSUED, {"r": params["r"]})
    return changed


# The notification outbox's row (dpo.notifications.outbox), written in SQL like the rest of
# the ingestion transaction; investors without an e-mail get none.
_TOKENS_ISSUED = (
    "INSERT INTO notifications (key, audience, event, email, fields) "
    "SELECT 'tokens_issued:inv:' || i.id, 'investor', 'tokens_issued', v.email, "
    "jsonb_build_object('reference', i.payment_reference, 'units', i.units::text, "
    "'offering', o.name) "
    "FROM investments i JOIN investors v ON v.id = i.investor_id "
    "JOIN offerings o ON o.id = i.offering_id "
    "WHERE i.onchain_reference = :r AND v.email IS NOT NULL "
    "ON CONFLICT (key) DO NOTHING"
)


async def _status(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known, status: str
) -> bool:
    if int(event.log.args["offeringId"]) not in known.offerings:
        return False
    before, after = (status, "open") if revert else ("open", status)
    return (
        await _run(
            connection,
            "UPDATE offerings SET status = :after, updated_at = now() "
            "WHERE onchain_offering_id = :o AND status = :before",
            {"o": int(event.log.args["offeringId"]), "before": before, "after": after},
        )
        > 0
    )


async def offering_closed(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known
) -> bool:
    """An open offering becomes closed; its investors are told (not again on a re-close)."""
    changed = await _status(connection, event, revert, known, "closed")
    if changed and not revert:
        await notices.offering_closed_onchain(
            connection, onchain_offering_id=int(event.log.args["offeringId"])
        )
    return changed


async def offering_cancelled(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known
) -> bool:
    """An open offering becomes cancelled."""
    return await _status(connection, event, revert, known, "cancelled")


async def load_known(connection: AsyncConnection, events: Sequence[StoredEvent]) -> Known:
    """Read the linked offerings and known investment refs the events mention (two queries)."""
    known = Known()
    offering_ids: set[int] = set()
    refs: set[str] = set()
    for event in events:
        args = event.log.args
        if event.log.contract_name == "STO" and "offeringId" in args:
            offering_ids.add(int(args["offeringId"]))
        if "investmentRef" in args:
            refs.add(str(args["investmentRef"]))
    if offering_ids:
        rows = await connection.execute(
            text(
                "SELECT onchain_offering_id, id, currency FROM offerings "
                "WHERE onchain_offering_id = ANY(CAST(:ids AS numeric[]))"
            ),
            {"ids": sorted(offering_ids)},
        )
        known.offerings = {int(r[0]): (int(r[1]), str(r[2])) for r in rows}
    if refs:
        rows = await connection.execute(
            text(
                "SELECT onchain_reference FROM investments "
                "WHERE onchain_reference = ANY(CAST(:refs AS varchar[]))"
            ),
            {"refs": sorted(refs)},
        )
        known.investment_refs = {str(r[0]) for r in rows}
    return known

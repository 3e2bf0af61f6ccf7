"""Offering totals and investment states from STO and Issuance events.

Offerings are matched by `onchain_offering_id` only: linking an offering to its on-chain
twin is an explicit back-office step, so `OfferingCreated` projects nothing (it stays in the
feed), and events of unlinked offerings are skipped and counted. Amounts arrive in the
currency's minor unit and are converted by the offering's currency.

Investments are matched by `onchain_reference` (the bytes32 investmentRef, lowercase 0x-hex).
Transitions the chain drives: pending_payment → paid (InvestmentReceived), pending_payment |
paid → issued (Issued), paid | issued → refunded (InvestmentRefunded). A revert recomputes the
state from the timestamps the forward steps set (issued_at, paid_at), so it lands where the
investment was. Offering status: open → closed / cancelled, and back on revert.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from listener.projections_common import StoredEvent, minor_to_decimal

logger = logging.getLogger(__name__)


async def _run(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> int:
    result = await connection.execute(text(sql), params)
    return int(getattr(result, "rowcount", 0) or 0)


async def _totals(connection: AsyncConnection, event: StoredEvent, sign: int) -> int:
    args = event.log.args
    row = (await connection.execute(
        text("SELECT id, currency FROM offerings WHERE onchain_offering_id = :o FOR UPDATE"),
        {"o": int(args["offeringId"])},
    )).first()
    if row is None:
        return 0
    amount = minor_to_decimal(args["amount"], str(row[1])) * sign
    return await _run(
        connection,
        "UPDATE offerings SET amount_raised = amount_raised + :a, "
        "units_sold = units_sold + :u, updated_at = now() WHERE id = :id",
        {"a": amount, "u": int(args["units"]) * sign, "id": row[0]},
    )


async def investment_received(connection: AsyncConnection, event: StoredEvent,
                              revert: bool) -> bool:
    """Offering raised/units += the investment; the matching investment becomes paid."""
    ref = event.log.args["investmentRef"]
    changed = await _totals(connection, event, -1 if revert else 1)
    if revert:
        changed += await _run(
            connection,
            "UPDATE investments SET state = 'pending_payment', paid_at = NULL, tx_hash = NULL, "
            "updated_at = now() WHERE onchain_reference = :r AND state = 'paid' AND tx_hash = :tx",
            {"r": ref, "tx": event.log.tx_hash},
        )
    else:
        changed += await _run(
            connection,
            "UPDATE investments SET state = 'paid', paid_at = :t, tx_hash = :tx, "
            "updated_at = now() WHERE onchain_reference = :r AND state = 'pending_payment'",
            {"r": ref, "tx": event.log.tx_hash, "t": event.time},
        )
    return changed > 0


async def investment_refunded(connection: AsyncConnection, event: StoredEvent,
                              revert: bool) -> bool:
    """Offering raised/units -= the investment; the matching investment becomes refunded."""
    ref = event.log.args["investmentRef"]
    changed = await _totals(connection, event, 1 if revert else -1)
    if revert:
        changed += await _run(
            connection,
            "UPDATE investments SET state = CASE WHEN issued_at IS NOT NULL THEN 'issued' "
            "WHEN paid_at IS NOT NULL THEN 'paid' ELSE 'pending_payment' END, "
            "updated_at = now() WHERE onchain_reference = :r AND state = 'refunded'",
            {"r": ref},
        )
    else:
        changed += await _run(
            connection,
            "UPDATE investments SET state = 'refunded', updated_at = now() "
            "WHERE onchain_reference = :r AND state IN ('paid', 'issued')",
            {"r": ref},
        )
    return changed > 0


async def issued(connection: AsyncConnection, event: StoredEvent, revert: bool) -> bool:
    """The investment with this investmentRef becomes issued (tx hash kept if already set)."""
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
    return await _run(connection, sql, params) > 0


async def _status(connection: AsyncConnection, event: StoredEvent, revert: bool,
                  status: str) -> bool:
    before, after = (status, "open") if revert else ("open", status)
    return await _run(
        connection,
        "UPDATE offerings SET status = :after, updated_at = now() "
        "WHERE onchain_offering_id = :o AND status = :before",
        {"o": int(event.log.args["offeringId"]), "before": before, "after": after},
    ) > 0


async def offering_closed(connection: AsyncConnection, event: StoredEvent, revert: bool) -> bool:
    """An open offering becomes closed."""
    return await _status(connection, event, revert, "closed")


async def offering_cancelled(connection: AsyncConnection, event: StoredEvent,
                             revert: bool) -> bool:
    """An open offering becomes cancelled."""
    return await _status(connection, event, revert, "cancelled")

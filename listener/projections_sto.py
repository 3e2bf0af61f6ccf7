"""Offering status from the STO's OfferingClosed / OfferingCancelled; the offerings named.

Offerings are matched by `onchain_offering_id` only: linking an offering to its on-chain
twin is an explicit back-office step, so `OfferingCreated` projects nothing (it stays in the
feed), and events of unlinked offerings are skipped and counted. Offering status: open →
closed / cancelled, and back on revert. Investment states and offering totals are
listener.projections_orders'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dpo.notifications import investors as notices
from listener.projections_common import Known, StoredEvent


async def _run(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> int:
    result = await connection.execute(text(sql), params)
    return int(getattr(result, "rowcount", 0) or 0)


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
    """Read the linked offerings the events mention (one query, none if they name none)."""
    known = Known()
    offering_ids: set[int] = set()
    for event in events:
        args = event.log.args
        if event.log.contract_name == "STO" and "offeringId" in args:
            offering_ids.add(int(args["offeringId"]))
    if offering_ids:
        rows = await connection.execute(
            text(
                "SELECT onchain_offering_id, id, currency FROM offerings "
                "WHERE onchain_offering_id = ANY(CAST(:ids AS numeric[]))"
            ),
            {"ids": sorted(offering_ids)},
        )
        known.offerings = {int(r[0]): (int(r[1]), str(r[2])) for r in rows}
    return known

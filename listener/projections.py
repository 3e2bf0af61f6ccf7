"""Read models kept from chain events, applied and reverted inside the ingestion transaction.

`apply_events` takes events in chain order; `revert_events` takes them newest first and undoes
each exactly (see the modules for what each event changes):
- `projections_positions`: Issuance Transfer / TokensFrozen / TokensUnfrozen → positions;
- `projections_orders`: STO InvestmentReceived / InvestmentRefunded and Issuance Issued →
  investments and offering totals, a run of them folded into a few statements;
- `projections_sto`: STO OfferingClosed / OfferingCancelled → offering status;
- `projections_reports`: DerivativesReporter TradeReported → derivative_reports; bridge
  TokensLocked / TokensReleased / TransferStatusChanged → bridge_transfers.
Other events (OfferingCreated, Redeemed — its Transfer moves the position —, AddressFrozen,
roles, pause) live in the feed only. An event that matches no row of ours counts as skipped.
A ProjectionError (or any database error) rolls the whole batch back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from listener import projections_reports, projections_sto
from listener.projections_common import Known, ProjectionError, ProjectionStats, StoredEvent
from listener.projections_orders import ORDER_EVENTS, project_orders
from listener.projections_positions import POSITION_EVENTS, project_positions

__all__ = [
    "ProjectionError",
    "ProjectionStats",
    "StoredEvent",
    "apply_events",
    "revert_events",
]

Handler = Callable[[AsyncConnection, StoredEvent, bool, Known], Awaitable[bool]]

HANDLERS: dict[tuple[str, str], Handler] = {
    ("STO", "OfferingClosed"): projections_sto.offering_closed,
    ("STO", "OfferingCancelled"): projections_sto.offering_cancelled,
    ("EuroclearBridge", "TransferStatusChanged"): projections_reports.transfer_status_changed,
}


def is_projected(contract_name: str, event_name: str) -> bool:
    """Tell whether an event changes a read model."""
    return (
        (contract_name, event_name) in HANDLERS
        or (contract_name, event_name) in ORDER_EVENTS
        or (contract_name, event_name) in projections_reports.ROW_EVENTS
        or (contract_name == "Issuance" and event_name in POSITION_EVENTS)
    )


async def _project(
    connection: AsyncConnection, events: Sequence[StoredEvent], revert: bool
) -> ProjectionStats:
    stats = ProjectionStats()
    known = await projections_sto.load_known(connection, events)
    if not revert:
        # Rows first: the status changes below may concern transfers created in this batch.
        await projections_reports.project_rows(connection, events, revert=False, stats=stats)
    # Order events are folded a run at a time; the run ends before any other handler, which
    # may read what they change (a close tells the investors with a kept order).
    run: list[StoredEvent] = []
    for event in events:
        kind = (event.log.contract_name, event.log.event_name)
        if kind in ORDER_EVENTS:
            run.append(event)
            continue
        handler = HANDLERS.get(kind)
        if handler is None:
            continue
        await project_orders(connection, run, revert=revert, known=known, stats=stats)
        run = []
        if await handler(connection, event, revert, known):
            stats.applied += 1
        else:
            stats.skipped += 1
    await project_orders(connection, run, revert=revert, known=known, stats=stats)
    if revert:
        # Rows last: the status changes above are undone while their transfers still exist.
        await projections_reports.project_rows(connection, events, revert=True, stats=stats)
    # Positions are summed over the batch; their order relative to the others is irrelevant.
    await project_positions(connection, events, revert=revert, stats=stats)
    return stats


async def apply_events(
    connection: AsyncConnection, events: Sequence[StoredEvent]
) -> ProjectionStats:
    """Apply the projections of events given in chain order."""
    return await _project(connection, events, revert=False)


async def revert_events(
    connection: AsyncConnection, events: Sequence[StoredEvent]
) -> ProjectionStats:
    """Undo the projections of events given newest first."""
    return await _project(connection, events, revert=True)

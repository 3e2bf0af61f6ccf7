"""One reconciliation pass: a run row, one transaction of set-based work, the run's outcome.

The comparison and every break it opens, updates or closes commit together, so a pass killed
half-way leaves the breaks as the previous pass left them, and the next pass does all of it.
The run row is committed first (so a failed pass is on record); a row left `running` by a dead
process is marked failed by the next pass, which runs under the job's advisory lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.base import utcnow
from dpo.db.models import ReconciliationRun
from dpo.db.models.enums import BreakKind, RunStatus
from dpo.db.session import unit_of_work
from dpo.notifications.outbox import notify_ops
from dpo.reconciliation import sql
from dpo.reconciliation.revision import next_break_revision

logger = logging.getLogger(__name__)

ACTOR = "system:reconcile_positions"
REGULAR_KINDS = (
    BreakKind.MISSING_IN_LEDGER,
    BreakKind.MISSING_ON_CHAIN,
    BreakKind.MISSING_AT_CSD,
    BreakKind.QUANTITY_MISMATCH,
)
PROJECTION_KINDS = (BreakKind.PROJECTION_MISMATCH, BreakKind.FROZEN_MISMATCH)


@dataclass(frozen=True)
class PassResult:
    """What one pass did."""

    run_id: int
    positions_checked: int
    breaks_found: int
    breaks_opened: int
    breaks_updated: int
    breaks_resolved: int
    projections_checked: int = 0


async def _scalar(session: AsyncSession, statement: str, **params: object) -> int:
    return int((await session.execute(text(statement), params)).scalar_one())


async def compare_and_apply(session: AsyncSession, *, run_id: int, full: bool) -> PassResult:
    """Compare the sources and open, update and close breaks, in the caller's transaction."""
    await session.execute(text(sql.CREATE_FOUND))
    row = (await session.execute(text(sql.COMPARE))).one()
    checked, found = int(row.checked), int(row.found)
    projections = 0
    kinds = [kind.value for kind in REGULAR_KINDS]
    if full:
        row = (await session.execute(text(sql.COMPARE_PROJECTION))).one()
        projections, found = int(row.checked), found + int(row.found)
        kinds += [kind.value for kind in PROJECTION_KINDS]
    await session.execute(text("ANALYZE recon_found"))
    # Taken late: the counter row stays locked until this transaction ends.
    revision = await next_break_revision(session)
    updated = (await session.execute(text(sql.UPDATE_CHANGED), {"revision": revision})).rowcount  # type: ignore[attr-defined]
    opened = await _scalar(session, sql.INSERT_NEW, run_id=run_id, revision=revision)
    resolved = (
        await session.execute(
            text(sql.CLOSE_GONE),
            {"revision": revision, "actor": ACTOR, "run_id": str(run_id), "kinds": kinds},
        )
    ).rowcount  # type: ignore[attr-defined]
    return PassResult(
        run_id=run_id,
        positions_checked=checked,
        breaks_found=found,
        breaks_opened=opened,
        breaks_updated=int(updated),
        breaks_resolved=int(resolved),
        projections_checked=projections,
    )


async def run_pass(sessions: async_sessionmaker[AsyncSession], *, full: bool = False) -> PassResult:
    """A whole pass: the run row, the comparison with its breaks, the run's outcome."""
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(ReconciliationRun)
            .where(ReconciliationRun.status == RunStatus.RUNNING.value)
            .values(
                status=RunStatus.FAILED.value,
                finished_at=utcnow(),
                error="interrupted: the process running it stopped before it finished",
            )
        )
        run = ReconciliationRun(started_at=utcnow())
        session.add(run)
        await session.flush()
        run_id = run.id
    try:
        async with unit_of_work(sessions) as session:
            result = await compare_and_apply(session, run_id=run_id, full=full)
            await session.execute(
                update(ReconciliationRun)
                .where(ReconciliationRun.id == run_id)
                .values(
                    status=RunStatus.SUCCEEDED.value,
                    finished_at=utcnow(),
                    positions_checked=result.positions_checked,
                    breaks_opened=result.breaks_opened,
                    breaks_resolved=result.breaks_resolved,
                )
            )
            if result.breaks_opened:
                # One message per pass, not per break: 10,000 new breaks are one e-mail.
                await notify_ops(
                    session,
                    key=f"breaks_opened:run:{run_id}",
                    event="breaks_opened",
                    fields={
                        "run_id": run_id,
                        "opened": result.breaks_opened,
                        "open_found": result.breaks_found,
                    },
                )
    except Exception as error:
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(ReconciliationRun)
                .where(ReconciliationRun.id == run_id)
                .values(
                    status=RunStatus.FAILED.value,
                    finished_at=utcnow(),
                    error=f"{type(error).__name__}: {error}"[:2000],
                )
            )
        raise
    logger.info(
        "reconciliation run %d: %d pairs checked, %d breaks found, %d opened, "
        "%d updated, %d resolved",
        run_id,
        result.positions_checked,
        result.breaks_found,
        result.breaks_opened,
        result.breaks_updated,
        result.breaks_resolved,
    )
    return result

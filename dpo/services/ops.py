"""Operations: reconciliation breaks and job runs, for ops staff and admins."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.base import utcnow
from dpo.db.models import JobRun, ReconciliationBreak
from dpo.db.models.enums import BreakStatus, RunStatus
from dpo.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from dpo.reconciliation.revision import next_break_revision
from dpo.services import audit
from dpo.services.pagination import Ordering, Page, SortKey, count, page_size, paginate
from dpo.services.policy import STAFF_READERS, require_authenticated

logger = logging.getLogger(__name__)


BREAKS_BY_ID = Ordering("breaks_by_id", (SortKey(ReconciliationBreak.id.expression),))


def require_ops(principal: Principal) -> None:
    """Refuse everyone but ops staff and admins."""
    require_authenticated(principal)
    if principal.role not in STAFF_READERS:
        raise ForbiddenError("only ops staff and admins may do this", reason="ops_only")


def _break_snapshot(item: ReconciliationBreak) -> dict[str, Any]:
    return {
        "status": item.status,
        "resolved_by": item.resolved_by,
        "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None,
        "note": item.note,
    }


async def list_breaks(
    session: AsyncSession,
    *,
    principal: Principal,
    status: BreakStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """A page of reconciliation breaks in id order, optionally of one status."""
    require_ops(principal)
    query = select(ReconciliationBreak)
    if status is not None:
        query = query.where(ReconciliationBreak.status == status.value)
    return await paginate(
        session, query, ordering=BREAKS_BY_ID, first=first, after=after, last=last, before=before
    )


async def get_break(
    session: AsyncSession, *, principal: Principal, break_id: int
) -> ReconciliationBreak:
    """One reconciliation break (ops, admin)."""
    require_ops(principal)
    item = await session.get(ReconciliationBreak, break_id)
    if item is None:
        raise NotFoundError("no such reconciliation break", id=break_id)
    return item


async def count_breaks(
    session: AsyncSession, *, principal: Principal, status: BreakStatus | None = None
) -> int:
    """How many breaks list_breaks would page through."""
    require_ops(principal)
    query = select(ReconciliationBreak)
    if status is not None:
        query = query.where(ReconciliationBreak.status == status.value)
    return await count(session, query)


async def resolve_break(
    session: AsyncSession,
    *,
    principal: Principal,
    break_id: int,
    status: BreakStatus = BreakStatus.RESOLVED,
    note: str | None = None,
) -> ReconciliationBreak:
    """Close an open break as resolved or ignored, with who did it and why."""
    require_ops(principal)
    if status is BreakStatus.OPEN:
        raise ValidationError("a break can only be closed as resolved or ignored", field="status")
    if note is not None and len(note) > 2000:
        raise ValidationError("the note is longer than 2000 characters", field="note")
    item = await session.scalar(
        select(ReconciliationBreak).where(ReconciliationBreak.id == break_id).with_for_update()
    )
    if item is None:
        raise NotFoundError("no such reconciliation break", id=break_id)
    if item.status != BreakStatus.OPEN:
        raise ConflictError("this break is closed already", reason="not_open", status=item.status)
    before = _break_snapshot(item)
    item.status = status.value
    item.resolved_by = principal.actor
    item.resolved_at = utcnow()
    item.note = note
    item.revision = await next_break_revision(session)
    await session.flush()
    await audit.record(
        session,
        principal=principal,
        action="reconciliation_break.resolve",
        entity_type="reconciliation_break",
        entity_id=str(item.id),
        before=before,
        after=_break_snapshot(item),
    )
    return item


async def list_job_runs(
    session: AsyncSession,
    *,
    principal: Principal,
    job: str | None = None,
    status: RunStatus | None = None,
    first: int | None = None,
) -> Sequence[JobRun]:
    """The latest job runs first, optionally of one job."""
    require_ops(principal)
    query = (
        select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(page_size(first))
    )
    if job is not None:
        query = query.where(JobRun.job == job)
    if status is not None:
        query = query.where(JobRun.status == status.value)
    return list((await session.scalars(query)).all())


async def get_job_run(session: AsyncSession, *, principal: Principal, run_id: int) -> JobRun:
    """One job run (ops, admin), as `list_job_runs` shows them."""
    require_ops(principal)
    run = await session.get(JobRun, run_id)
    if run is None:
        raise NotFoundError("no such job run", id=run_id)
    return run

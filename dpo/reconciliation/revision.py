"""Break revisions that become visible in the order they are handed out.

Every change to a reconciliation break (opened, updated, closed, resolved by ops) stamps the
break with a revision taken here. The one `break_revision` row is bumped by UPDATE, whose row
lock is held to commit, so a second writer waits and revisions are visible in order: a
subscriber that has read every break up to revision N never misses a lower one committed
later (a timestamp cannot promise that: a long transaction commits rows stamped in the past).
Take the revision late in the transaction, at READ COMMITTED.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import BreakRevision


class BreakRevisionMissingError(RuntimeError):
    """The break_revision row is absent: the database was not migrated."""


async def next_break_revision(session: AsyncSession) -> int:
    """The next break revision; the counter stays locked until the transaction ends."""
    value = (
        await session.execute(
            update(BreakRevision)
            .where(BreakRevision.id == 1)
            .values(last_value=BreakRevision.last_value + 1)
            .returning(BreakRevision.last_value)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()
    if value is None:
        raise BreakRevisionMissingError("break_revision has no row; run the migrations")
    return int(value)

"""Feed sequence numbers that become visible in the order they are handed out.

A serial column can commit out of order: B takes 11 and commits before A, holding 10, does,
and a subscriber resuming "after 11" never sees 10. Here the one `feed_sequence` row is bumped
by UPDATE, which takes the same row lock as SELECT ... FOR UPDATE and keeps it until the
transaction ends. A second writer blocks on that lock until the first commits (and then reads
the committed value) or rolls back (and then reuses the numbers), so numbers are gap-free and
every number is visible before any higher one is.

The writer's transaction must run at READ COMMITTED (PostgreSQL's default): at REPEATABLE READ
or SERIALIZABLE the waiting writer fails with a serialization error instead of continuing.
Take the numbers late in the transaction: the lock serialises every feed writer until commit.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models.chain import FeedSequence

FEED_SEQUENCE_ROW = 1


class FeedSequenceMissingError(RuntimeError):
    """The feed_sequence row is absent: the database was not migrated."""


async def next_feed_sequences(session: AsyncSession, n: int) -> range:
    """Reserve the next n feed sequence numbers, locking the feed until the transaction ends."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return range(0)
    statement = (
        update(FeedSequence)
        .where(FeedSequence.id == FEED_SEQUENCE_ROW)
        .values(last_value=FeedSequence.last_value + n)
        .returning(FeedSequence.last_value)
        .execution_options(synchronize_session=False)
    )
    last = (await session.execute(statement)).scalar_one_or_none()
    if last is None:
        raise FeedSequenceMissingError("feed_sequence has no row; run the migrations")
    return range(last - n + 1, last + 1)

"""Operator actions on chain intents (`dpo sender status`, `dpo sender retry`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainIntent
from dpo.db.models.enums import IntentState


async def counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Intents by state."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(ChainIntent.state, func.count()).group_by(ChainIntent.state)
            )
        ).all()
    return {str(state): int(n) for state, n in rows}


async def retry(sessions: async_sessionmaker[AsyncSession], intent_id: int) -> str | None:
    """An operator's retry of a reverted or failed intent: pending again, without a nonce.

    Returns the state it left, or None when the intent is not reverted or failed. The chain
    check runs again before anything is sent, so a retry never repeats what happened.
    """
    async with sessions() as session, session.begin():
        row = await session.scalar(
            select(ChainIntent).where(ChainIntent.id == intent_id).with_for_update()
        )
        if row is None or row.state not in (IntentState.REVERTED.value, IntentState.FAILED.value):
            return None
        before = row.state
        reason = row.revert_reason or row.last_error or ""
        row.state = IntentState.PENDING.value
        row.nonce = row.chain_id = row.sender_address = None
        row.finished_at = None
        row.revert_reason = None
        row.last_error = f"retried by an operator after: {reason}"[:2000]
    return before

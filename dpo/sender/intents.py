"""Enqueueing chain intents in the caller's transaction (the outbox side of the sender).

`enqueue_issuance` is called when an investment becomes paid, `enqueue_refund` when a paid
investment is refunded. Both only insert or update rows in the caller's session (no commit),
so the intents exist exactly when the state change that needs them commits. Both are
idempotent: (investment, kind) is unique and inserts skip an existing row, so a repeated
webhook or a replayed job is a no-op.

What is enqueued:
- issuance: `invest` (STO.invest: record the paid order) then `issue` (Issuance.issue), the
  issue depending on the invest, so tokens are never issued for an order the chain refused;
- refund: intents not yet signed (pending) are cancelled, since nothing of them reached the
  chain; a `refund` (STO.refund) is added only when the order's invest was signed, depending
  on it, so the chain is asked to refund exactly what it may have recorded.

The investment's `onchain_reference` (the bytes32 investmentRef both contracts and the
listener know it by) is drawn at random when the first intent is enqueued: a reference from
the id would collide between databases that share a chain (test runs, a restored staging).
The arguments (investor wallet, on-chain offering id, minor-unit amount) are resolved by the
sender when it signs, so a missing wallet or an unlinked offering is recorded on the intent
for ops, never a failure of the caller's transaction.
"""

from __future__ import annotations

import secrets

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import ChainIntent, Investment
from dpo.db.models.enums import IntentKind, IntentState


def new_onchain_reference() -> str:
    """A random bytes32 as lowercase 0x-hex (what the listener matches events by)."""
    return "0x" + secrets.token_hex(32)


async def _insert(
    session: AsyncSession, investment_id: int, kind: IntentKind, depends_on_id: int | None
) -> int:
    """Insert the intent unless (investment, kind) exists; return its id either way."""
    inserted = await session.scalar(
        insert(ChainIntent)
        .values(investment_id=investment_id, kind=kind.value, depends_on_id=depends_on_id)
        .on_conflict_do_nothing(index_elements=["investment_id", "kind"])
        .returning(ChainIntent.id)
    )
    if inserted is not None:
        return int(inserted)
    existing = await session.scalar(
        select(ChainIntent.id).where(
            ChainIntent.investment_id == investment_id, ChainIntent.kind == kind.value
        )
    )
    if existing is None:  # pragma: no cover - the conflict above proves the row exists
        raise RuntimeError("chain intent vanished during enqueue")
    return int(existing)


async def enqueue_issuance(session: AsyncSession, investment: Investment) -> None:
    """Owe the chain the record of this paid (flushed) order and its tokens (no commit)."""
    if investment.onchain_reference is None:
        investment.onchain_reference = new_onchain_reference()
        await session.flush()
    invest_id = await _insert(session, investment.id, IntentKind.INVEST, None)
    await _insert(session, investment.id, IntentKind.ISSUE, invest_id)


async def enqueue_refund(session: AsyncSession, investment: Investment) -> None:
    """Cancel what was not signed yet; owe the chain a refund of what may be recorded."""
    rows = (
        await session.execute(
            select(ChainIntent.id, ChainIntent.kind, ChainIntent.state)
            .where(ChainIntent.investment_id == investment.id)
            .order_by(ChainIntent.id)
            .with_for_update()
        )
    ).all()
    states = {kind: (intent_id, state) for intent_id, kind, state in rows}
    pending = [
        intent_id
        for intent_id, kind, state in rows
        if state == IntentState.PENDING.value
        and kind in (IntentKind.INVEST.value, IntentKind.ISSUE.value)
    ]
    if pending:
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id.in_(pending))
            .values(
                state=IntentState.CANCELLED.value,
                last_error="cancelled by a refund",
                finished_at=func.now(),
                updated_at=func.now(),
            )
        )
    invest = states.get(IntentKind.INVEST.value)
    if invest is None:
        return
    invest_id, invest_state = invest
    if invest_state in (
        IntentState.IN_FLIGHT.value,
        IntentState.MINED.value,
        IntentState.SUCCEEDED.value,
    ):
        await _insert(session, investment.id, IntentKind.REFUND, invest_id)

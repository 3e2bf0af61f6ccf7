"""The sender's writes of signed transactions: nonces assigned, replacements, broadcasts.

Each function is one short transaction. `sign_and_record` takes the intents it signs FOR
UPDATE and only those still pending, so an `enqueue_refund` cancelling them at the same
moment either waits for the signature (and then owes a refund) or wins (and nothing is
signed); the unique (chain, sender, nonce) key stops a second sender from reusing a nonce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainIntent, ChainTransaction
from dpo.db.models.enums import IntentKind, IntentState
from dpo.sender.policy import Fees, fresh_nonces, holes_behind
from dpo.sender.store import InFlight


@dataclass(slots=True)
class Signed:
    """What the nonce-assigning write stores for one intent."""

    intent_id: int
    nonce: int
    tx_hash: str
    raw_tx: str
    gas_limit: int
    fees: Fees
    call: dict[str, Any]


async def held_nonces(session: AsyncSession, chain_id: int, sender: str, start: int) -> set[int]:
    """The nonces our intents hold on this chain from `start` on (what fresh ones skip, and
    what a hole is found between)."""
    found = await session.scalars(
        select(ChainIntent.nonce).where(
            ChainIntent.chain_id == chain_id,
            ChainIntent.sender_address == sender,
            ChainIntent.nonce >= start,
        )
    )
    return {int(n or 0) for n in found}


async def sign_and_record(
    sessions: async_sessionmaker[AsyncSession],
    *,
    chain_id: int,
    sender: str,
    intent_ids: list[int],
    chain_mined: int,
    chain_pending: int,
    sign: Callable[[int, int], Signed],
) -> list[Signed]:
    """Assign nonces to the intents still pending, sign each (`sign(intent_id, nonce)`) and
    store the signed transactions, all in one transaction, before anything is broadcast.

    A nonce a reorg freed goes first (policy.fresh_nonces). Signed again with the same call
    and fees, it is the same transaction as before: its row is kept, not inserted twice."""
    out: list[Signed] = []
    async with sessions() as session, session.begin():
        still = list(
            await session.scalars(
                select(ChainIntent.id)
                .where(
                    ChainIntent.id.in_(intent_ids), ChainIntent.state == IntentState.PENDING.value
                )
                .order_by(ChainIntent.id)
                .with_for_update()
            )
        )
        if not still:
            return []
        held = await held_nonces(session, chain_id, sender, chain_mined)
        nonces = fresh_nonces(
            len(still), chain_mined=chain_mined, chain_pending=chain_pending, held=held
        )
        out = [sign(intent_id, nonce) for intent_id, nonce in zip(still, nonces, strict=True)]
        # Two statements for the whole batch, whatever its size.
        await session.execute(
            insert(ChainTransaction).on_conflict_do_nothing(index_elements=["tx_hash"]),
            [
                {
                    "intent_id": s.intent_id,
                    "nonce": s.nonce,
                    "tx_hash": s.tx_hash,
                    "raw_tx": s.raw_tx,
                    "gas_limit": s.gas_limit,
                    "max_fee_per_gas": s.fees.max_fee,
                    "max_priority_fee_per_gas": s.fees.tip,
                }
                for s in out
            ],
        )
        await session.execute(
            update(ChainIntent),
            [
                {
                    "id": s.intent_id,
                    "state": IntentState.IN_FLIGHT.value,
                    "chain_id": chain_id,
                    "sender_address": sender,
                    "nonce": s.nonce,
                    "call": s.call,
                }
                for s in out
            ],
        )
    return out


async def add_version(
    sessions: async_sessionmaker[AsyncSession], flight: InFlight, signed: Signed
) -> None:
    """Store a replacement (same nonce, higher fees) before it is broadcast."""
    async with sessions() as session, session.begin():
        session.add(
            ChainTransaction(
                intent_id=flight.id,
                nonce=flight.nonce,
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw_tx,
                gas_limit=signed.gas_limit,
                max_fee_per_gas=signed.fees.max_fee,
                max_priority_fee_per_gas=signed.fees.tip,
            )
        )
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id == flight.id)
            .values(replacements=ChainIntent.replacements + 1, updated_at=func.now())
        )


async def broadcast_done(
    sessions: async_sessionmaker[AsyncSession], done: list[tuple[int, str]]
) -> None:
    """Record broadcasts: (intent id, transaction hash) pairs."""
    if not done:
        return
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainTransaction)
            .where(ChainTransaction.tx_hash.in_([tx for _, tx in done]))
            .values(broadcast_at=func.coalesce(ChainTransaction.broadcast_at, func.now()))
        )
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id.in_([intent for intent, _ in done]))
            .values(
                sends=ChainIntent.sends + 1,
                sent_at=func.coalesce(ChainIntent.sent_at, func.now()),
                updated_at=func.now(),
            )
        )


async def fill_holes(
    sessions: async_sessionmaker[AsyncSession],
    *,
    chain_id: int,
    sender: str,
    chain_mined: int,
    sign: Callable[[int], Signed],
) -> list[Signed]:
    """Nonces a reorg freed that nothing took again while ours wait behind them: a `fill`
    intent (a no-op self-transfer, `sign(nonce)`) each, written in flight before the
    broadcast like any other. Run after the pass sent what was ready, which fills first."""
    async with sessions() as session, session.begin():
        held = await held_nonces(session, chain_id, sender, chain_mined)
        out = [sign(nonce) for nonce in holes_behind(chain_mined, held)]
        for item in out:
            intent = ChainIntent(
                kind=IntentKind.FILL.value,
                state=IntentState.IN_FLIGHT.value,
                chain_id=chain_id,
                sender_address=sender,
                nonce=item.nonce,
                call=item.call,
                last_error="fills a nonce a reorg freed",
            )
            session.add(intent)
            await session.flush()
            item.intent_id = intent.id
            session.add(
                ChainTransaction(
                    intent_id=intent.id,
                    nonce=item.nonce,
                    tx_hash=item.tx_hash,
                    raw_tx=item.raw_tx,
                    gas_limit=item.gas_limit,
                    max_fee_per_gas=item.fees.max_fee,
                    max_priority_fee_per_gas=item.fees.tip,
                )
            )
    return out

"""The sender's reads and writes of mined intents (waiting for confirmations, or reorged).

An intent whose transaction has a successful receipt is `mined`, with the block's number and
hash; it becomes `succeeded` once confirmed, moves with its transaction when a reorg puts it
in another block, and goes back to `pending` (nonce released) when a reorg takes it: the
chain check then decides whether it is sent again. Each function is one short transaction,
and each moves only rows still in the state it expects, so a concurrent operator action or a
second sender changes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainIntent, ChainTransaction
from dpo.db.models.enums import IntentState
from dpo.sender.store import ours_in_state

# The listener's event that shows an intent's call on chain.
EVENTS = {"invest": "InvestmentReceived", "issue": "Issued", "refund": "InvestmentRefunded"}
_LISTENER_EVENTS = text(
    "SELECT e.event_name, e.args ->> 'investmentRef', min(e.block_number) FROM chain_events e "
    "WHERE e.chain_id = :chain AND NOT e.removed AND e.args ? 'investmentRef' "
    "AND (e.args ->> 'investmentRef') = ANY(:refs) AND e.event_name = ANY(:names) "
    "AND e.block_number <= (SELECT last_processed_block FROM listener_checkpoints "
    "WHERE chain_id = :chain) GROUP BY 1, 2"
)


@dataclass(slots=True)
class MinedIntent:
    """A mined intent: where its receipt was, and the hashes of every version signed."""

    id: int
    kind: str
    nonce: int
    reference: str | None
    tx_hash: str | None
    block_number: int
    block_hash: str
    versions: list[str] = field(default_factory=list)


async def mined(
    sessions: async_sessionmaker[AsyncSession], chain_id: int, sender: str
) -> list[MinedIntent]:
    """Our mined intents on this chain, lowest nonce first."""
    async with sessions() as session:
        rows = (
            await session.execute(
                ours_in_state(
                    IntentState.MINED,
                    chain_id,
                    sender,
                    ChainIntent.tx_hash,
                    ChainIntent.block_number,
                    ChainIntent.block_hash,
                )
            )
        ).all()
        out = {
            int(r[0]): MinedIntent(
                int(r[0]), r[1], int(r[2] or 0), r[3], r[4], int(r[5] or 0), str(r[6] or "")
            )
            for r in rows
        }
        if out:
            for version in (
                await session.execute(
                    select(ChainTransaction.intent_id, ChainTransaction.tx_hash)
                    .where(ChainTransaction.intent_id.in_(list(out)))
                    .order_by(ChainTransaction.id)
                )
            ).all():
                out[int(version[0])].versions.append(str(version[1]))
    return list(out.values())


async def listener_blocks(
    sessions: async_sessionmaker[AsyncSession], chain_id: int, wanted: list[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """(kind, reference) → the block of the listener's live event for it, at or below the
    listener's checkpoint; missing when it has none (or there is no listener)."""
    refs = sorted({ref for kind, ref in wanted if kind in EVENTS})
    if not refs:
        return {}
    names = {name: kind for kind, name in EVENTS.items()}
    async with sessions() as session:
        rows = (
            await session.execute(
                _LISTENER_EVENTS, {"chain": chain_id, "refs": refs, "names": list(names)}
            )
        ).all()
    found = {(names[str(name)], str(ref)): int(block) for name, ref, block in rows}
    return {key: found[key] for key in wanted if key in found}


async def mark_mined(
    sessions: async_sessionmaker[AsyncSession], receipts: list[tuple[int, str, int, str]]
) -> None:
    """In-flight intents whose transaction succeeded: (intent id, tx hash, block number, block
    hash), one statement for all of them."""
    if not receipts:
        return
    table = cast(Table, ChainIntent.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == IntentState.IN_FLIGHT.value)
        .values(
            state=IntentState.MINED.value,
            tx_hash=bindparam("b_tx"),
            block_number=bindparam("b_block"),
            block_hash=bindparam("b_hash"),
            updated_at=func.now(),
        )
    )
    async with sessions() as session, session.begin():
        await session.execute(
            statement,
            [{"b_id": i, "b_tx": tx, "b_block": n, "b_hash": h} for i, tx, n, h in receipts],
        )


async def confirm(sessions: async_sessionmaker[AsyncSession], intent_ids: list[int]) -> None:
    """Mined intents that are final: succeeded."""
    if not intent_ids:
        return
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id.in_(intent_ids), ChainIntent.state == IntentState.MINED.value)
            .values(
                state=IntentState.SUCCEEDED.value, finished_at=func.now(), updated_at=func.now()
            )
        )


async def moved(
    sessions: async_sessionmaker[AsyncSession],
    intent_id: int,
    tx_hash: str,
    block_number: int,
    block_hash: str,
) -> None:
    """A mined intent a reorg put in another block: its confirmations count from there."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id == intent_id, ChainIntent.state == IntentState.MINED.value)
            .values(
                tx_hash=tx_hash,
                block_number=block_number,
                block_hash=block_hash,
                last_error=f"moved by a reorg to block {block_number}",
                updated_at=func.now(),
            )
        )


async def recheck(sessions: async_sessionmaker[AsyncSession], intent_id: int, note: str) -> None:
    """A mined intent a reorg took: pending again without a nonce (the nonce it held is free
    for the next transaction), so the chain check decides whether it is sent again."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id == intent_id, ChainIntent.state == IntentState.MINED.value)
            .values(
                state=IntentState.PENDING.value,
                nonce=None,
                chain_id=None,
                sender_address=None,
                tx_hash=None,
                block_number=None,
                block_hash=None,
                last_error=note[:2000],
                updated_at=func.now(),
            )
        )

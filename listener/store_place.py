"""Where a batch starts against the checkpoint, read under its lock, and what of it is stored.

listener.store's general path (the first batch, one overlapping stored blocks, one after a
reorg, a large one): `place` locks the checkpoint row and, with a lock holder, tells in the
same statement whether it still holds the listener lock (listener.leader's fence);
`existing_keys` reads the keys already stored only when some can be.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from listener.leader import HELD, LeadershipLostError, LockHolder
from listener.store_types import Batch, BlockHeader, ReorgDetectedError, StoreError

# Where a batch starts against the locked checkpoint (`place`).
APPLIED, NEXT, OVERLAP = "applied", "next", "overlap"


async def place(
    connection: AsyncConnection,
    batch: Batch,
    headers: dict[int, BlockHeader],
    holder: LockHolder | None = None,
) -> str:
    """Lock the checkpoint and place the batch: APPLIED (covered), NEXT (starts right after
    it) or OVERLAP (no checkpoint yet, or the batch repeats stored blocks); raises if the
    checkpoint covers another chain's blocks or is not reached. `holder`: the same statement
    tells whether it holds the listener lock; LeadershipLostError if not.
    """
    held = f", {HELD.replace('@', ':')}" if holder is not None else ""
    values = {"c": batch.chain_id, **(holder.values() if holder is not None else {})}
    row = (
        await connection.execute(
            text(
                f"SELECT last_processed_block, last_processed_hash{held} "  # noqa: S608 - constants
                "FROM listener_checkpoints WHERE chain_id = :c FOR UPDATE"
            ),
            values,
        )
    ).first()
    if holder is not None:
        if row is None:  # the first batch: no checkpoint row to ask with
            row_held = await connection.scalar(text(f"SELECT {HELD.replace('@', ':')}"), values)
        else:
            row_held = row[2]
        if not row_held:
            raise LeadershipLostError(f"the listener lock of chain {batch.chain_id} was lost")
    if row is None:
        return OVERLAP
    number, hash_ = int(row[0]), str(row[1])
    last = headers[batch.to_block]
    if number >= batch.to_block:
        known = (
            hash_
            if number == batch.to_block
            else (
                await connection.execute(
                    text("SELECT hash FROM listener_blocks WHERE chain_id = :c AND number = :n"),
                    {"c": batch.chain_id, "n": batch.to_block},
                )
            ).scalar_one_or_none()
        )
        if known is not None and known != last.hash:
            raise ReorgDetectedError(
                f"block {batch.to_block} was processed with hash {known}, the batch has {last.hash}"
            )
        return APPLIED
    if batch.from_block > number + 1:
        raise StoreError(f"gap: checkpoint at {number}, batch starts at {batch.from_block}")
    first = headers.get(number + 1)
    if first is not None and first.parent_hash != hash_:
        raise ReorgDetectedError(
            f"block {number + 1}'s parent {first.parent_hash} is not the checkpoint {hash_}"
        )
    return NEXT if batch.from_block == number + 1 else OVERLAP


async def existing_keys(
    connection: AsyncConnection, batch: Batch, place: str, logs: int
) -> set[tuple[str, str, int]]:
    """The batch's keys already stored live; none asked for when none can exist.

    A batch starting right after the locked checkpoint (NEXT) has nothing stored: every live
    event is at or below the checkpoint, since an ingest moves the checkpoint to its last
    block in the transaction that stores its events, and a revert removes every live event
    above the ancestor in the transaction that moves the checkpoint back to it. Nothing else
    writes chain_events; the lock keeps every other writer (a racing one, an old leader after
    a failover) out until we commit, and a killed process loses a whole transaction, events
    and checkpoint together. Were it broken by hand (the checkpoint moved back with SQL), the
    live key (uq_chain_events_live_key) refuses the duplicate and the batch rolls back.
    """
    if place == NEXT or not logs:
        return set()
    rows = await connection.execute(
        text(
            "SELECT block_hash, tx_hash, log_index FROM chain_events WHERE chain_id = :c "
            "AND NOT removed AND block_number BETWEEN :a AND :b"
        ),
        {"c": batch.chain_id, "a": batch.from_block, "b": batch.to_block},
    )
    return {(str(r[0]), str(r[1]), int(r[2])) for r in rows}

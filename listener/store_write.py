"""The writes of a batch's transaction, each as few round trips as PostgreSQL allows.

A block at the tip is a handful of rows, and its commit is mostly waiting for PostgreSQL's
answers (the round trips, not the work), so:

- `mark` keeps the batch's block headers for the reorg window and moves the checkpoint in one
  statement (data-modifying CTEs);
- `write_few` does that and also reserves the feed numbers and inserts the events from arrays
  (`unnest`), in the same one statement: a few rows cost one round trip where a COPY needs the
  reservation first (dpo.db.feed) and then its own;
- a large batch keeps COPY (listener.store), which is cheaper per row on the server.

The feed row is locked by the reservation until the commit, as dpo.db.feed's UPDATE locks it;
here that happens in the batch's last write before the projections, as late as before. The
checkpoint row is already locked (FOR UPDATE) when these run, so moving it first changes
nothing another writer can see before the commit.
"""

from __future__ import annotations

from typing import Any

from dpo.db.feed import FEED_SEQUENCE_ROW, FeedSequenceMissingError
from listener.store_rows import Tail
from listener.store_types import Batch, time_of

# Fewer fresh events than this are inserted by `write_few`, more by COPY. Measured per commit
# of n unprojected events on a loaded 2-core machine (CPU of the client and of its PostgreSQL
# backend from /proc, 30-40 commits each, both paths alternating): up to 128 rows the insert
# costs PostgreSQL no more CPU than COPY (64: 1.5 vs 1.5 ms, 128: 2.6 vs 2.8) and the client
# about 1.4 ms less (no separate reservation); from 256 COPY is cheaper for PostgreSQL (256:
# 2.8 vs 4.5 ms, 512: 4.1 vs 7.2), whose CPU is the backfill's serial share.
COPY_FROM = 128

_BLOCKS = (
    # A backfill range can span thousands of blocks; only the window's newest are kept. The
    # deleted and the inserted numbers never overlap.
    "dropped AS (DELETE FROM listener_blocks WHERE chain_id = $1::bigint AND number <= $2), "
    "kept AS (INSERT INTO listener_blocks (chain_id, number, hash, parent_hash, timestamp) "
    "SELECT $1::bigint, * FROM unnest($3::bigint[], $4::varchar[], $5::varchar[], "
    "$6::timestamptz[]) ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, "
    "parent_hash = excluded.parent_hash, timestamp = excluded.timestamp)"
)
_CHECKPOINT = (
    "INSERT INTO listener_checkpoints AS c (chain_id, last_processed_block, "
    "last_processed_hash) VALUES ($1::bigint, $7::bigint, $8::varchar) ON CONFLICT (chain_id) "
    "DO UPDATE SET last_processed_block = $7::bigint, last_processed_hash = $8::varchar, "
    "updated_at = now()"
)
MARK = f"WITH {_BLOCKS} {_CHECKPOINT}"
WRITE = (
    f"WITH {_BLOCKS}, moved AS ({_CHECKPOINT}), "  # noqa: S608 - constants only
    "feed AS (UPDATE feed_sequence SET last_value = last_value + $9::bigint "
    f"WHERE id = {FEED_SEQUENCE_ROW} RETURNING last_value), "
    "added AS (INSERT INTO chain_events (id, chain_id, contract_address, contract_name, "
    "event_name, block_number, block_hash, block_timestamp, tx_hash, tx_index, log_index, args, "
    "removed, removed_at, removes_id) "
    "SELECT feed.last_value - $9::bigint + r.n, $1::bigint, r.address, r.contract, r.event, "
    "r.number, r.block_hash, r.at, r.tx_hash, r.tx_index, r.log_index, CAST(r.args AS jsonb), "
    "false, NULL, NULL FROM feed, unnest($10::varchar[], $11::varchar[], $12::varchar[], "
    "$13::bigint[], $14::varchar[], $15::timestamptz[], $16::varchar[], $17::int[], $18::int[], "
    "$19::text[]) WITH ORDINALITY AS r(address, contract, event, number, block_hash, at, "
    "tx_hash, tx_index, log_index, args, n)) "
    "SELECT last_value FROM feed"
)


def _mark_values(batch: Batch, window: int, last: tuple[int, str]) -> list[Any]:
    oldest = batch.to_block - window
    kept = [b for b in batch.blocks if b.number > oldest]
    return [
        batch.chain_id,
        oldest,
        [b.number for b in kept],
        [b.hash for b in kept],
        [b.parent_hash for b in kept],
        [time_of(b.timestamp) for b in kept],
        last[0],
        last[1],
    ]


async def mark(raw: Any, batch: Batch, window: int, last: tuple[int, str]) -> None:
    """Keep the window's headers of the batch and move the checkpoint to `last` (one trip)."""
    await raw.execute(MARK, *_mark_values(batch, window, last))


async def write_few(
    raw: Any, batch: Batch, window: int, last: tuple[int, str], rows: list[Tail]
) -> range:
    """`mark`, and reserve feed ids for `rows` and insert them in order: one round trip.

    `rows` are chain_events tails (listener.store_rows) in the order their ids ascend; the
    ids are returned. No rows: `mark` alone (the feed is not locked).
    """
    if not rows:
        await mark(raw, batch, window, last)
        return range(0)
    n = len(rows)
    columns = list(zip(*rows, strict=True))
    value = await raw.fetchval(
        WRITE, *_mark_values(batch, window, last), n, *(list(c) for c in columns[1:11])
    )
    if value is None:
        raise FeedSequenceMissingError("feed_sequence has no row; run the migrations")
    return range(int(value) - n + 1, int(value) + 1)

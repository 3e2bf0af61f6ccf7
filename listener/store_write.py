"""A batch's writes in as few round trips as PostgreSQL allows.

A block at the tip is a handful of rows, and its commit is mostly waiting for PostgreSQL's
answers (the round trips, not the work), so `write` is one statement (data-modifying CTEs)
that keeps the batch's block headers for the reorg window, moves the checkpoint and, for a
few rows, reserves the feed numbers and inserts the events from arrays (`unnest`); a large
batch reserves them apart and COPYs (listener.store), COPY being cheaper per row on the
server.

`ingest_next` stores a batch that starts right after the checkpoint without reading the
checkpoint first: the statement locks it only if it is where the batch's first header says
(FOR UPDATE in a CTE every change is conditional on), so a writer that waited for the lock
sees the row as the other left it and changes nothing; the caller then takes the general
path, which reads the checkpoint under the lock and tells an applied batch, a reorg or a gap
apart. Without projections that statement is the whole transaction (one round trip), and so
it is when the only read model the batch changes is positions (Transfer, TokensFrozen,
TokensUnfrozen: the common event at the tip), whose one statement
(listener.positions_statement) becomes part of it: its rows are read and locked only once the
checkpoint is, and every change also waits on no position becoming invalid, so a batch that
would break one changes nothing and raises ProjectionError. Other projections need their own
statements: BEGIN goes first and COMMIT after them, as before.

The feed row is locked by the reservation until the commit, as dpo.db.feed's UPDATE locks it,
in the batch's last write before the projections, as late as before. The checkpoint row is
locked before anything is changed, so moving it first changes nothing another writer can see
before the commit.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from dpo.db.feed import FEED_SEQUENCE_ROW, FeedSequenceMissingError
from listener import positions_statement
from listener.leader import HELD, LeadershipLostError, LockHolder
from listener.positions_statement import POSITION_EVENTS, Deltas, collect, settle
from listener.projections import ProjectionStats, StoredEvent, apply_events
from listener.store_rows import PreparedBatch, Tail
from listener.store_types import Batch, IngestResult, raw_connection, time_of

# Fewer fresh events than this are inserted by `write`, more by COPY. Measured per commit
# of n unprojected events on a loaded 2-core machine (CPU of the client and of its PostgreSQL
# backend from /proc, 30-40 commits each, both paths alternating): up to 128 rows the insert
# costs PostgreSQL no more CPU than COPY (64: 1.5 vs 1.5 ms, 128: 2.6 vs 2.8) and the client
# about 1.4 ms less (no separate reservation); from 256 COPY is cheaper for PostgreSQL (256:
# 2.8 vs 4.5 ms, 512: 4.1 vs 7.2), whose CPU is the backfill's serial share.
COPY_FROM = 128

PLACED = (
    # The checkpoint where the batch says it starts, locked (at READ COMMITTED a writer that
    # waited for the lock sees the row as the other left it, so a moved checkpoint is not it).
    "placed AS (SELECT 1 FROM listener_checkpoints WHERE chain_id = @c::bigint "
    "AND last_processed_block = @after::bigint AND last_processed_hash = @after_hash::varchar "
    "FOR UPDATE)"
)
GATE = " AND EXISTS (SELECT 1 FROM placed)"
VALID = " AND NOT EXISTS (SELECT 1 FROM pbad)"


@functools.cache
def _statement(
    *, placed: bool, events: bool, positions: bool = False, fenced: bool = False
) -> tuple[str, list[str]]:
    """The one statement of a write, with $n for the @names, and the names in $ order.

    `placed`: every change is conditional on the checkpoint being where the batch starts
    (`after`), which it locks; it answers whether it was. Else the checkpoint is already
    locked by the caller. `events`: also reserve the feed numbers and insert the events.
    `positions` (only `placed`): also apply the batch's position changes
    (listener.positions_statement), read after the checkpoint is locked; every change then
    also waits on none of them being invalid, so an invalid batch changes nothing.
    `fenced` (only `placed`): the checkpoint is placed only if the lock holder holds the
    listener lock (listener.leader.HELD), which it answers too.
    """
    gate = GATE + (VALID if positions else "") if placed else ""
    parts = [f"held AS (SELECT {HELD} AS ok)"] if fenced else []
    parts += (
        [PLACED.replace("FOR UPDATE", "AND (SELECT ok FROM held) FOR UPDATE")]
        if fenced
        else ([PLACED] if placed else [])
    )
    if positions:
        parts += positions_statement.ctes(GATE)
    parts += [
        # A backfill range can span thousands of blocks; only the window's newest are kept.
        # The deleted and the inserted numbers never overlap.
        "dropped AS (DELETE FROM listener_blocks WHERE chain_id = @c::bigint "  # noqa: S608 - constants
        f"AND number <= @oldest::bigint{gate})",
        "kept AS (INSERT INTO listener_blocks (chain_id, number, hash, parent_hash, timestamp) "  # noqa: S608 - constants
        "SELECT @c::bigint, * FROM unnest(@numbers::bigint[], @hashes::varchar[], "
        f"@parents::varchar[], @times::timestamptz[]) WHERE true{gate} "
        "ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, "
        "parent_hash = excluded.parent_hash, timestamp = excluded.timestamp)",
        (
            "moved AS (UPDATE listener_checkpoints SET last_processed_block = @last::bigint, "  # noqa: S608 - constants
            "last_processed_hash = @last_hash::varchar, updated_at = now() "
            f"WHERE chain_id = @c::bigint{gate})"
            if placed
            else "moved AS (INSERT INTO listener_checkpoints AS c (chain_id, "
            "last_processed_block, last_processed_hash) VALUES (@c::bigint, @last::bigint, "
            "@last_hash::varchar) ON CONFLICT (chain_id) DO UPDATE SET "
            "last_processed_block = @last::bigint, last_processed_hash = @last_hash::varchar, "
            "updated_at = now())"
        ),
    ]
    if events:
        parts += [
            "feed AS (UPDATE feed_sequence SET last_value = last_value + @n::bigint "  # noqa: S608 - constants
            f"WHERE id = {FEED_SEQUENCE_ROW}{gate} RETURNING last_value)",
            "added AS (INSERT INTO chain_events (id, chain_id, contract_address, contract_name, "
            "event_name, block_number, block_hash, block_timestamp, tx_hash, tx_index, "
            "log_index, args, removed, removed_at, removes_id) "
            "SELECT feed.last_value - @n::bigint + r.n, @c::bigint, r.address, r.contract, "
            "r.event, r.number, r.block_hash, r.at, r.tx_hash, r.tx_index, r.log_index, "
            "CAST(r.args AS jsonb), false, NULL, NULL FROM feed, unnest(@addresses::varchar[], "
            "@contracts::varchar[], @names::varchar[], @blocks::bigint[], "
            "@block_hashes::varchar[], @ats::timestamptz[], @txs::varchar[], "
            "@tx_indexes::int[], @log_indexes::int[], @args::text[]) WITH ORDINALITY "
            "AS r(address, contract, event, number, block_hash, at, tx_hash, tx_index, "
            "log_index, args, n))",
        ]
    answer = "(SELECT count(*) FROM placed)" if placed else "1"
    last = "(SELECT last_value FROM feed)" if events else "NULL::bigint"
    more = ", (SELECT ok FROM held)" if fenced else ", true"
    more += f", {positions_statement.ANSWER}" if positions else ""
    return positions_statement.numbered(f"WITH {', '.join(parts)} SELECT {answer}, {last}{more}")


EVENT_ARRAYS = (
    "addresses",
    "contracts",
    "names",
    "blocks",
    "block_hashes",
    "ats",
    "txs",
    "tx_indexes",
    "log_indexes",
    "args",
)


async def write(
    raw: Any,
    batch: Batch,
    window: int,
    last: tuple[int, str],
    rows: list[Tail],
    *,
    after: tuple[int, str] | None = None,
    positions: tuple[Deltas, ProjectionStats] | None = None,
    holder: LockHolder | None = None,
) -> range | None:
    """Keep the batch's headers, move the checkpoint to `last`, and reserve feed ids for
    `rows` and insert them in order, in one statement; the ids, or None if not `after`.

    `rows` are chain_events tails (listener.store_rows) in the order their ids ascend; no
    rows: the feed is not touched (nor locked). `after` (number, hash): only if the
    checkpoint is there, locking it; None: the caller holds the checkpoint's lock. `raw`
    is the asyncpg connection, or the session's AsyncConnection when this statement must
    open the transaction (asyncpg's own calls send no BEGIN: SQLAlchemy sends it before its
    first statement). `positions` (only with `after`): the batch's position changes, applied
    in the same statement, and the stats that count them; raises ProjectionError, nothing
    changed, if one would be invalid. `holder` (only with `after`): write only if it holds the
    listener lock, else raise LeadershipLostError, nothing changed.
    """
    oldest = batch.to_block - window
    kept = [b for b in batch.blocks if b.number > oldest]
    values: dict[str, Any] = {
        "c": batch.chain_id,
        "oldest": oldest,
        "numbers": [b.number for b in kept],
        "hashes": [b.hash for b in kept],
        "parents": [b.parent_hash for b in kept],
        "times": [time_of(b.timestamp) for b in kept],
        "last": last[0],
        "last_hash": last[1],
    }
    if after is not None:
        values["after"], values["after_hash"] = after
    if rows:
        values["n"] = len(rows)
        columns = list(zip(*rows, strict=True))[1:11]
        values.update(zip(EVENT_ARRAYS, (list(c) for c in columns), strict=True))
    if positions is not None:
        values.update(positions[0].values())
    if holder is not None:
        values.update(holder.values())
    sql, names = _statement(
        placed=after is not None,
        events=bool(rows),
        positions=positions is not None,
        fenced=holder is not None,
    )
    args = tuple(values[name] for name in names)
    if isinstance(raw, AsyncConnection):  # through SQLAlchemy: BEGIN goes first if not sent
        row: Any = (await raw.exec_driver_sql(sql, args)).one()
    else:
        row = await raw.fetchrow(sql, *args)
    placed, value = row[0], row[1]
    if not row[2]:
        raise LeadershipLostError(f"the listener lock of chain {batch.chain_id} was lost")
    if not placed:
        return None
    if positions is not None:
        settle(positions[0], row[3], row[4], positions[1])
    if not rows:
        return range(0)
    if value is None:
        raise FeedSequenceMissingError("feed_sequence has no row; run the migrations")
    return range(int(value) - len(rows) + 1, int(value) + 1)


async def ingest_next(
    sessions: async_sessionmaker[AsyncSession],
    batch: Batch,
    prepared: PreparedBatch,
    window: int,
    holder: LockHolder | None = None,
) -> IngestResult | None:
    """Store a batch that starts right after the checkpoint, else None (nothing changed).

    The batch's first header names the checkpoint it follows; `write` checks and locks it
    in the statement that stores the batch, so no statement reads it first. A batch no read
    model follows is that one statement, its own transaction (BEGIN and COMMIT would be two
    more round trips); with projections it is BEGIN, the statement, the projections, COMMIT.
    None (not there: another writer's batch, a reorg, a gap, the first batch) leaves the
    batch to listener.store.ingest_batch, which tells these apart under the lock.
    """
    first = prepared.headers.get(batch.from_block)
    if first is None:
        return None
    after = (batch.from_block - 1, first.parent_hash)
    tip = prepared.headers[batch.to_block]
    last = (tip.number, tip.hash)
    stats = ProjectionStats()
    projected = [prepared.logs[i] for i in prepared.projected]
    alone = all(log.contract_name == "Issuance" for log in projected) and all(
        log.event_name in POSITION_EVENTS for log in projected
    )
    async with sessions() as session:
        if alone:  # no read model, or only positions: one statement, its own transaction
            events = [
                StoredEvent(0, prepared.logs[i], prepared.times[i]) for i in prepared.projected
            ]
            raw = await raw_connection(session)
            positions = (collect(events), stats) if events else None
            ids = await write(
                raw,
                batch,
                window,
                last,
                prepared.tails,
                after=after,
                positions=positions,
                holder=holder,
            )
        else:
            async with session.begin():
                connection = await session.connection()
                ids = await write(
                    connection, batch, window, last, prepared.tails, after=after, holder=holder
                )
                if ids is None:
                    return None
                events = [
                    StoredEvent(ids[i], prepared.logs[i], prepared.times[i])
                    for i in prepared.projected
                ]
                stats = await apply_events(connection, events)
    if ids is None:
        return None
    return IngestResult(
        inserted=len(ids),
        first_seq=ids[0] if ids else None,
        last_seq=ids[-1] if ids else None,
        skipped_duplicates=len(batch.logs) - len(ids),
        projections=stats,
    )

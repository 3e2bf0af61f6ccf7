"""A batch checked and turned into chain_events rows before its transaction starts.

Everything here depends on the batch alone, not on the database: the follower prepares the
next batches while PostgreSQL works on the current one, so the transaction (which holds the
feed lock) only adds ids, copies and projects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from listener.decode import DecodedLog
from listener.projections import is_projected
from listener.store_types import (
    Batch,
    BlockHeader,
    ReorgDetectedError,
    StoreError,
    args_json,
    time_of,
)

# chain_events columns after `id`, in EVENT_COLUMNS order.
Tail = tuple[Any, ...]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch's unique logs in (block, log index) order with their rows, minus the ids."""

    headers: dict[int, BlockHeader]
    logs: list[DecodedLog]
    keys: list[tuple[str, str, int]]
    tails: list[Tail]
    times: list[datetime | None]
    # Positions in `logs` of the events a projection may change.
    projected: list[int]


def check_batch(batch: Batch) -> dict[int, BlockHeader]:
    """The batch's headers by number; raises if the batch must not be applied as given."""
    if batch.from_block > batch.to_block or batch.from_block < 0:
        raise StoreError(f"invalid block range {batch.from_block}..{batch.to_block}")
    headers = {b.number: b for b in batch.blocks}
    if batch.to_block not in headers:
        raise StoreError(f"the batch lacks the header of its last block {batch.to_block}")
    for log in batch.logs:
        if log.removed:
            raise ReorgDetectedError(f"a removed log in block {log.block_number}")
        if log.chain_id != batch.chain_id:
            raise StoreError(f"a log of chain {log.chain_id} in a batch of {batch.chain_id}")
        if not batch.from_block <= log.block_number <= batch.to_block:
            raise StoreError(f"log of block {log.block_number} outside the batch range")
        header = headers.get(log.block_number)
        if header is not None and header.hash != log.block_hash:
            raise ReorgDetectedError(f"block {log.block_number}: log and header hashes differ")
    return headers


def prepare_batch(batch: Batch) -> PreparedBatch:
    """Check the batch and build its rows; a log given twice is kept once."""
    headers = check_batch(batch)
    ordered = sorted(batch.logs, key=lambda item: (item.block_number, item.log_index))
    seen: set[tuple[str, str, int]] = set()
    logs: list[DecodedLog] = []
    keys: list[tuple[str, str, int]] = []
    tails: list[Tail] = []
    times: list[datetime | None] = []
    projected: list[int] = []
    block_times: dict[tuple[int, int | None], datetime | None] = {}
    kinds: dict[tuple[str, str], bool] = {}
    for log in ordered:
        key = (log.block_hash, log.tx_hash, log.log_index)
        if key in seen:
            continue
        seen.add(key)
        number = log.block_number
        block = (number, log.block_timestamp)
        if block in block_times:
            when = block_times[block]
        else:
            header = headers.get(number)
            when = time_of(header.timestamp if header is not None else log.block_timestamp)
            block_times[block] = when
        kind = (log.contract_name, log.event_name)
        if kind not in kinds:
            kinds[kind] = is_projected(*kind)
        if kinds[kind]:
            projected.append(len(logs))
        logs.append(log)
        keys.append(key)
        times.append(when)
        tails.append(
            (
                log.chain_id,
                log.contract_address,
                log.contract_name,
                log.event_name,
                number,
                log.block_hash,
                when,
                log.tx_hash,
                log.tx_index,
                log.log_index,
                args_json(log),
                False,
                None,
                None,
            )
        )
    return PreparedBatch(headers, logs, keys, tails, times, projected)


def _concat(parts: list[PreparedBatch]) -> PreparedBatch:
    logs: list[DecodedLog] = []
    keys: list[tuple[str, str, int]] = []
    tails: list[Tail] = []
    times: list[datetime | None] = []
    projected: list[int] = []
    headers: dict[int, BlockHeader] = {}
    for part in parts:
        projected += [len(logs) + i for i in part.projected]
        logs += part.logs
        keys += part.keys
        tails += part.tails
        times += part.times
        headers |= part.headers
    return PreparedBatch(headers, logs, keys, tails, times, projected)


def concat_rows(parts: list[PreparedBatch]) -> PreparedBatch | None:
    """The rows of consecutive slices of one batch's logs as one; None if out of order.

    Providers return logs in (block, log index) order, so a batch can be prepared a slice
    at a time; if the slices overlap or are out of order, prepare the whole batch instead.
    """
    last: tuple[int, int] | None = None
    for part in parts:
        if not part.logs:
            continue
        first = (part.logs[0].block_number, part.logs[0].log_index)
        if last is not None and last >= first:
            return None
        last = (part.logs[-1].block_number, part.logs[-1].log_index)
    return _concat(parts)


def join_batches(
    first: tuple[Batch, PreparedBatch], second: tuple[Batch, PreparedBatch]
) -> tuple[Batch, PreparedBatch]:
    """One batch of two consecutive ones (the second starts right after the first)."""
    (a, rows_a), (b, rows_b) = first, second
    if b.chain_id != a.chain_id or b.from_block != a.to_block + 1:
        raise StoreError(
            f"batches {a.from_block}..{a.to_block} and {b.from_block}..{b.to_block}"
            " are not consecutive"
        )
    batch = Batch(a.chain_id, a.from_block, b.to_block, a.blocks + b.blocks, a.logs + b.logs)
    return batch, _concat([rows_a, rows_b])

"""The store's values: batches, headers, results, errors and chain_events rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from listener.decode import DecodedLog
from listener.projections import ProjectionStats, StoredEvent

EVENT_COLUMNS = (
    "id",
    "chain_id",
    "contract_address",
    "contract_name",
    "event_name",
    "block_number",
    "block_hash",
    "block_timestamp",
    "tx_hash",
    "tx_index",
    "log_index",
    "args",
    "removed",
    "removed_at",
    "removes_id",
)


class StoreError(Exception):
    """A batch or revert that must not be applied as given; nothing was changed."""


class ReorgDetectedError(StoreError):
    """The batch does not extend the checkpoint's chain: the follower must revert first."""


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """A block's number, hash, parent hash (lowercase 0x-hex) and Unix timestamp."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


@dataclass
class Batch:
    """Decoded logs of [from_block, to_block] and the headers known for that range.

    The header of `to_block` is required: the checkpoint records its hash.
    """

    chain_id: int
    from_block: int
    to_block: int
    blocks: list[BlockHeader]
    logs: list[DecodedLog]


@dataclass(frozen=True)
class IngestResult:
    """What a batch stored; first/last_seq bound the feed ids to publish (None if none)."""

    inserted: int
    first_seq: int | None
    last_seq: int | None
    skipped_duplicates: int
    projections: ProjectionStats = field(default_factory=ProjectionStats)


@dataclass(frozen=True)
class RevertResult:
    """How many events a revert removed and the feed ids of the removal items."""

    removed: int
    first_seq: int | None
    last_seq: int | None
    projections: ProjectionStats = field(default_factory=ProjectionStats)


def time_of(seconds: int | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


async def raw_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (for COPY)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def args_json(log: DecodedLog) -> str:
    """The args as compact JSON text, as the jsonb column takes them over COPY."""
    return orjson.dumps(log.args).decode()


def event_record(
    event: StoredEvent,
    removes_id: int | None = None,
    removed_at: datetime | None = None,
    *,
    args: str | None = None,
) -> tuple[Any, ...]:
    """A chain_events row for COPY, in EVENT_COLUMNS order (a removal item if removes_id)."""
    log = event.log
    return (
        event.id,
        log.chain_id,
        log.contract_address,
        log.contract_name,
        log.event_name,
        log.block_number,
        log.block_hash,
        event.block_time,
        log.tx_hash,
        log.tx_index,
        log.log_index,
        args_json(log) if args is None else args,
        removed_at is not None,
        removed_at,
        removes_id,
    )


def stored_event(row: Any) -> StoredEvent:
    """A chain_events row read back as the event the projections revert."""
    args = row["args"]
    log = DecodedLog(
        chain_id=int(row["chain_id"]),
        contract_address=row["contract_address"],
        contract_name=row["contract_name"],
        event_name=row["event_name"],
        block_number=int(row["block_number"]),
        block_hash=row["block_hash"],
        tx_hash=row["tx_hash"],
        tx_index=int(row["tx_index"]),
        log_index=int(row["log_index"]),
        args=json.loads(args) if isinstance(args, str) else dict(args),
    )
    return StoredEvent(id=int(row["id"]), log=log, block_time=row["block_timestamp"])


def feed_range(result: IngestResult | RevertResult) -> Sequence[int]:
    """The feed ids a result produced (empty if none)."""
    if result.first_seq is None or result.last_seq is None:
        return range(0)
    return range(result.first_seq, result.last_seq + 1)

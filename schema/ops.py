"""Market data, operations and the chain event feed history."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.scalars import JSON

from dpo.db.models import ChainEvent as ChainEventRow
from dpo.db.models import FxRate as FxRateRow
from dpo.db.models import JobRun as JobRunRow
from dpo.db.models import ReconciliationBreak as ReconciliationBreakRow
from dpo.services.fx_calendar import is_stale
from schema.enums import BreakStatus
from schema.relay import Node, PageInfo, to_global_id
from schema.scalars import ISIN, Address, BigInt, Bytes32, CurrencyCode


@strawberry.type(description="How many units of quote one unit of base buys on a day.")
class FxRate:
    base: CurrencyCode
    quote: CurrencyCode
    rate: decimal.Decimal
    as_of: dt.date
    source: str
    stale: bool = strawberry.field(
        description=(
            "More than 4 working days (TARGET calendar) passed since as_of, counted up to the "
            "day asked for (today when none): the source has stopped publishing."
        )
    )

    @classmethod
    def from_row(cls, row: FxRateRow, *, on: dt.date | None = None) -> FxRate:
        """The API view of an FX rate, stale or not as of `on` (today when None)."""
        return cls(
            base=CurrencyCode(row.base),
            quote=CurrencyCode(row.quote),
            rate=row.rate,
            as_of=row.as_of,
            source=row.source,
            stale=is_stale(row.as_of, on or dt.datetime.now(dt.UTC).date()),
        )


@strawberry.type(description="A disagreement between ledger, chain and CSD for one holder.")
class ReconciliationBreak(Node):
    id: strawberry.ID
    isin: ISIN
    holder: str = strawberry.field(description="An address, or a CSD account.")
    ledger_qty: BigInt | None
    chain_qty: BigInt | None
    csd_qty: BigInt | None
    difference: BigInt
    kind: str
    status: BreakStatus
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None
    note: str | None

    @classmethod
    def from_row(cls, row: ReconciliationBreakRow) -> ReconciliationBreak:
        """The API view of a reconciliation break."""

        def big(value: int | None) -> BigInt | None:
            return None if value is None else BigInt(value)

        return cls(
            id=to_global_id("ReconciliationBreak", row.id),
            isin=ISIN(row.isin),
            holder=row.holder,
            ledger_qty=big(row.ledger_qty),
            chain_qty=big(row.chain_qty),
            csd_qty=big(row.csd_qty),
            difference=BigInt(row.difference),
            kind=row.kind,
            status=BreakStatus(row.status),
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            resolved_by=row.resolved_by,
            resolved_at=row.resolved_at,
            note=row.note,
        )


@strawberry.type(description="One run of a scheduled job.")
class JobRun(Node):
    id: strawberry.ID
    job: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: JSON
    error: str | None

    @classmethod
    def from_row(cls, row: JobRunRow) -> JobRun:
        """The API view of a job run."""
        return cls(
            id=to_global_id("JobRun", row.id),
            job=row.job,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            counts=JSON(row.counts),
            error=row.error,
        )


@strawberry.type(description="One item of the chain event feed; `sequence` is its cursor.")
class ChainEvent(Node):
    id: strawberry.ID = strawberry.field(
        description="Global id (`node(id:)` finds it), stable for the feed item."
    )
    sequence: BigInt
    chain_id: BigInt
    contract_address: Address
    contract_name: str
    event_name: str
    block_number: BigInt
    block_hash: Bytes32
    tx_hash: Bytes32
    log_index: int
    args: JSON = strawberry.field(description="Decoded arguments; integers as strings.")
    removed: bool
    removes_sequence: BigInt | None = strawberry.field(
        description="On a removal item: the sequence of the event a reorg orphaned."
    )
    block_timestamp: dt.datetime | None

    @classmethod
    def from_row(cls, row: ChainEventRow | Row[Any]) -> ChainEvent:
        """The API view of a feed item: an ORM object, or a row of its table (a page)."""
        return cls(
            id=to_global_id("ChainEvent", row.id),
            sequence=BigInt(row.id),
            chain_id=BigInt(row.chain_id),
            contract_address=Address(row.contract_address),
            contract_name=row.contract_name,
            event_name=row.event_name,
            block_number=BigInt(row.block_number),
            block_hash=Bytes32(row.block_hash),
            tx_hash=Bytes32(row.tx_hash),
            log_index=row.log_index,
            args=JSON(row.args),
            removed=row.removed,
            removes_sequence=BigInt(row.removes_id) if row.removes_id is not None else None,
            block_timestamp=row.block_timestamp,
        )


@strawberry.type(description="A page of feed items; cursors are feed sequences.")
class ChainEventEdge:
    cursor: str
    node: ChainEvent


async def _event_count(root: ChainEventConnection) -> int:
    total: int = await root.count_total()
    return total


@strawberry.type(description="Feed history between cursors, in feed order.")
class ChainEventConnection:
    edges: list[ChainEventEdge]
    page_info: PageInfo = strawberry.field(
        description=(
            "`endCursor` continues here (`after`) or in the live subscription; `startCursor` "
            "pages back (`last` with `before`)."
        )
    )
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]
    total_count: int = strawberry.field(
        resolver=_event_count, description="How many items match, over all pages."
    )
    has_next_page: bool = strawberry.field(deprecation_reason="Use pageInfo { hasNextPage }.")
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, or the `after` given when the page is empty.",
        deprecation_reason="Use pageInfo { endCursor } (null on an empty page).",
    )


@strawberry.input(description="Feed filters; every one given must match.")
class EventFilter:
    contract: str | None = strawberry.field(default=None, description="A contract address or name.")
    event_name: str | None = None
    offering_id: strawberry.ID | None = None
    address: Address | None = strawberry.field(
        default=None, description="Matches events with any argument equal to this address."
    )

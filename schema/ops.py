"""Market data, operations and the chain event feed history."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Awaitable, Callable

import strawberry
from strawberry.scalars import JSON

from schema.enums import BreakStatus
from schema.relay import Node, PageInfo
from schema.scalars import ISIN, Address, BigInt, Bytes32, CurrencyCode


@strawberry.type(description="How many units of quote one unit of base buys on a day.")
class FxRate:
    base: CurrencyCode
    quote: CurrencyCode
    rate: decimal.Decimal
    as_of: dt.date
    source: str
    stale: bool = strawberry.field(description=(
        "More than 4 working days (TARGET calendar) passed since as_of, counted up to the "
        "day asked for (today when none): the source has stopped publishing."))


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


@strawberry.type(description="One run of a scheduled job.")
class JobRun(Node):
    id: strawberry.ID
    job: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: JSON
    error: str | None


@strawberry.type(description="One item of the chain event feed; `sequence` is its cursor.")
class ChainEvent(Node):
    id: strawberry.ID = strawberry.field(
        description="Global id (`node(id:)` finds it), stable for the feed item.")
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
        description="On a removal item: the sequence of the event a reorg orphaned.")
    block_timestamp: dt.datetime | None


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
    page_info: PageInfo = strawberry.field(description=(
        "`endCursor` continues here (`after`) or in the live subscription; `startCursor` "
        "pages back (`last` with `before`)."))
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]
    total_count: int = strawberry.field(resolver=_event_count,
                                        description="How many items match, over all pages.")
    has_next_page: bool = strawberry.field(
        deprecation_reason="Use pageInfo { hasNextPage }.")
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, or the `after` given when the page is empty.",
        deprecation_reason="Use pageInfo { endCursor } (null on an empty page).")


@strawberry.input(description="Feed filters; every one given must match.")
class EventFilter:
    contract: str | None = strawberry.field(default=None,
                                            description="A contract address or name.")
    event_name: str | None = None
    offering_id: strawberry.ID | None = None
    address: Address | None = strawberry.field(
        default=None, description="Matches events with any argument equal to this address.")

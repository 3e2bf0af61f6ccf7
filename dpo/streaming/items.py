"""Feed items as immutable values, and the in-memory twin of the feed's SQL filter."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db import raw_reads
from dpo.db.models import ChainEvent, Offering
from dpo.services.chain_events import EventFilter

# The key of `FeedItem.memo` holding when the listener saw the item's head (Unix seconds, the
# doorbell's `seen`; dpo.streaming.hub), for `dpo_feed_frame_seconds`.
SEEN = "seen"


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One row of `chain_events`, shared read-only by every subscriber it is fanned out to.

    `memo` holds what is computed once per item for all of them (schema.shared_events).
    """

    id: int
    chain_id: int
    contract_address: str
    contract_name: str
    event_name: str
    block_number: int
    block_hash: str
    block_timestamp: datetime | None
    tx_hash: str
    tx_index: int
    log_index: int
    args: dict[str, Any]
    removed: bool
    removes_id: int | None
    created_at: datetime
    memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)


def item_of(row: Any) -> FeedItem:
    """The value of a chain_events row (an ORM object or a row with the columns by name)."""
    return FeedItem(
        id=row.id,
        chain_id=row.chain_id,
        contract_address=row.contract_address,
        contract_name=row.contract_name,
        event_name=row.event_name,
        block_number=row.block_number,
        block_hash=row.block_hash,
        block_timestamp=row.block_timestamp,
        tx_hash=row.tx_hash,
        tx_index=row.tx_index,
        log_index=row.log_index,
        args=dict(row.args),
        removed=row.removed,
        removes_id=row.removes_id,
        created_at=row.created_at,
    )


def _after_statement() -> Select[Any]:
    """Feed items after `head`, oldest first, at most `size`."""
    table = ChainEvent.__table__
    return (
        select(*table.c)
        .where(table.c.id > bindparam("head"))
        .order_by(table.c.id)
        .limit(bindparam("size"))
    )


async def items_after(session: AsyncSession, head: int, size: int) -> list[FeedItem]:
    """Up to `size` feed items after id `head`, oldest first: the hub's read after a doorbell.

    One statement on the pooled connection's asyncpg connection (dpo.db.raw_reads), no BEGIN
    and ROLLBACK around it and no ORM objects: it is on every doorbell's path to the
    subscribers' frames, in every web worker.
    """
    rows = await raw_reads.fetch_fixed(
        session, "feed_items_after", _after_statement, {"head": head, "size": size}
    )
    return [item_of(row) for row in rows]


@dataclass(frozen=True)
class FeedMatcher:
    """The same predicate as `dpo.services.chain_events.events_statement`, for live items.

    Built once per subscription (`matcher_for`), so the offering is looked up only then.
    """

    spec: EventFilter
    offering_chain_id: str | None = None
    offering_token: str | None = None

    def __call__(self, item: FeedItem) -> bool:
        """Whether the item passes every filter given."""
        spec = self.spec
        if spec.contract is not None and not (
            item.contract_address.lower() == spec.contract.lower()
            or item.contract_name == spec.contract
        ):
            return False
        if spec.event_name is not None and item.event_name != spec.event_name:
            return False
        if spec.address is not None:
            wanted = spec.address.lower()
            if not any(_text(value).lower() == wanted for value in item.args.values()):
                return False
        if spec.offering_id is not None:
            by_id = (
                self.offering_chain_id is not None
                and _text(item.args.get("offeringId")) == self.offering_chain_id
            )
            by_token = (
                self.offering_token is not None
                and item.contract_address.lower() == self.offering_token
            )
            return by_id or by_token
        return True


def _text(value: Any) -> str:
    """A JSON value as jsonb_each_text / ->> render it (strings unquoted)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def matcher_for(session: AsyncSession, spec: EventFilter | None) -> FeedMatcher:
    """A matcher for the filter; an unknown offering matches nothing, as in the history query."""
    spec = spec or EventFilter()
    if spec.offering_id is None:
        return FeedMatcher(spec)
    row = (
        await session.execute(
            select(Offering.onchain_offering_id, Offering.token_address).where(
                Offering.id == spec.offering_id
            )
        )
    ).one_or_none()
    if row is None:
        return FeedMatcher(spec)
    chain_id, token = row
    return FeedMatcher(
        spec,
        offering_chain_id=None if chain_id is None else str(chain_id),
        offering_token=None if token is None else token.lower(),
    )

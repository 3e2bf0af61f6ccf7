"""Live subscriptions: the chain event feed, offerings, positions and reconciliation breaks.

Every stream is driven by the feed (dpo.streaming): items come from PostgreSQL in feed order,
each once. `events` yields the same edges as the `events` history query, so `cursor` resumes
either; its payload is executed once per operation and item for all subscribers
(schema.shared_events), and over WebSocket written by the hub's fan-out itself while the
subscriber's task is idle (schema.direct_frames). The others re-read current state after
feed items that touch it, coalescing a burst into one read. A slow consumer is closed by the
transport (app.subscriptions.ws) with 4413.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import strawberry
from graphql.execution.values import VariableValues
from sqlalchemy import func, select, tuple_
from strawberry.scalars import JSON

from dpo.db.models import ReconciliationBreak as ReconciliationBreakRow
from dpo.reconciliation.bell import get_bell
from dpo.services import chain_events, offerings, ops, positions
from dpo.services.pagination import decode_sequence
from dpo.streaming import metrics
from dpo.streaming.hub import FeedHub
from dpo.streaming.items import SEEN, FeedItem, matcher_for
from dpo.streaming.subscriber import FeedSubscription, SlowConsumerError
from schema.context import Info
from schema.direct_frames import DirectFrames
from schema.offerings import Offering
from schema.ops import ChainEvent, ChainEventEdge, EventFilter, ReconciliationBreak
from schema.positions import Position
from schema.relay import from_global_id, to_global_id
from schema.scalars import Address, BigInt, Bytes32
from schema.shared_events import (
    SharedEvent,
    operation_key,
    permission_scope,
    shared_data,
)

logger = logging.getLogger(__name__)

# Positions of one holder re-read per change: a holder with more is cut at this many.
MAX_POSITIONS = 100
# Break changes read per poll; a bigger backlog continues at the next poll.
BREAKS_PAGE = 1000


def event_edge(item: FeedItem) -> ChainEventEdge:
    """The history query's edge for a live item; `cursor` is its feed sequence."""
    return ChainEventEdge(
        cursor=str(item.id),
        node=ChainEvent(
            id=to_global_id("ChainEvent", item.id),
            sequence=BigInt(item.id),
            chain_id=BigInt(item.chain_id),
            contract_address=Address(item.contract_address),
            contract_name=item.contract_name,
            event_name=item.event_name,
            block_number=BigInt(item.block_number),
            block_hash=Bytes32(item.block_hash),
            tx_hash=Bytes32(item.tx_hash),
            log_index=item.log_index,
            args=JSON(item.args),
            removed=item.removed,
            removes_sequence=BigInt(item.removes_id) if item.removes_id is not None else None,
            block_timestamp=item.block_timestamp,
        ),
    )


def _observe(item: FeedItem) -> None:
    metrics.DELIVERY_SECONDS.observe(
        max(0.0, (datetime.now(UTC) - item.created_at).total_seconds())
    )
    seen = item.memo.get(SEEN)
    if seen is not None:
        metrics.FRAME_SECONDS.observe(max(0.0, time.time() - seen))


async def _open(
    info: Info, spec: chain_events.EventFilter | None, after: int | None
) -> tuple[FeedHub, FeedSubscription]:
    hub = await info.context.runtime.feed.get()
    async with info.context.runtime.sessions() as session:
        matcher = await matcher_for(session, spec)
    subscription = hub.subscribe(
        after=after, spec=spec, matcher=matcher, on_slow=info.context.on_slow
    )
    return hub, subscription


def _core_filter(filter: EventFilter | None) -> chain_events.EventFilter | None:
    if filter is None:
        return None
    offering = (
        None
        if filter.offering_id is None
        else from_global_id(filter.offering_id, expect="Offering", field="offeringId")[1]
    )
    return chain_events.EventFilter(
        contract=filter.contract,
        event_name=filter.event_name,
        offering_id=offering,
        address=filter.address,
    )


async def subscribe_events(
    info: Info, filter: EventFilter | None = None, after: str | None = None
) -> AsyncGenerator[ChainEventEdge]:
    """Feed items after the cursor (from now on without one), in feed order, each once."""
    sequence = None if after is None else decode_sequence(after)
    _, subscription = await _open(info, _core_filter(filter), sequence)
    scope = permission_scope(info.context.principal)
    # Over WebSocket, an item whose payload another subscriber of this operation already
    # executed goes to the socket as a finished frame (app.subscriptions.ws_frames), past the
    # per-result path.
    sink = info.context.frame_sink
    raw = info._raw_info
    # The coerced values: a dict here at run time, a VariableValues in graphql-core's types.
    values: Any = raw.variable_values
    variables: dict[str, Any] = values.coerced if isinstance(values, VariableValues) else values
    key = (operation_key(raw.operation, raw.fragments, variables), scope)
    # While this task is idle, the hub's fan-out writes live frames itself (direct_frames).
    direct = None
    if sink is not None and sink.direct:
        direct = DirectFrames(sink=sink, key=key, scope=scope, build=event_edge)
        subscription.direct = direct
    stream = subscription.items()
    try:
        async for item in stream:
            # Until the subscription's executor is bound (its first event executed here), its
            # items go through the executor even when shared, so the fan-out can execute later
            # items with it, whichever subscriber of the shape it reaches first.
            bound = direct is None or direct.executor is not None
            data = shared_data(item.memo, key) if sink is not None and bound else None
            if data is not None and sink is not None:
                if await sink.send(data):
                    metrics.SHARED_FRAMES.inc()
                    _observe(item)
                # else the operation is over: its task is being cancelled.
                continue
            _observe(item)
            # The executor (schema.shared_events) builds and executes the edge once per
            # operation and scope for every subscriber of this item, then reuses the result.
            yield cast(
                "ChainEventEdge",
                SharedEvent(
                    memo=item.memo,
                    build=partial(event_edge, item),
                    scope=scope,
                    binder=direct,
                ),
            )
    except SlowConsumerError:
        # The transport closes the socket with 4413; an error frame would only add noise.
        return
    finally:
        await stream.aclose()


async def _changes(subscription: FeedSubscription) -> AsyncGenerator[FeedItem]:
    """Matching items, skipping those followed by more already queued (one read per burst)."""
    stream = subscription.items()
    try:
        async for item in stream:
            if subscription.live and subscription.pending:
                continue
            yield item
    except SlowConsumerError:
        return
    finally:
        await stream.aclose()


async def subscribe_offering_updated(info: Info, id: strawberry.ID) -> AsyncGenerator[Offering]:
    """The offering now, then again after each feed item that touches it."""
    db_id = from_global_id(id, expect="Offering")[1]
    principal, sessions = info.context.principal, info.context.runtime.sessions
    async with sessions() as session:
        # Refuses an offering the caller may not see before anything is opened.
        await offerings.get_offering(session, principal=principal, id=db_id)
    # Opened before the state is read: a change in between is delivered, not lost.
    _, subscription = await _open(info, chain_events.EventFilter(offering_id=db_id), None)
    async with sessions() as session:
        first = await offerings.get_offering(session, principal=principal, id=db_id)
    yield Offering.from_row(first)
    async for item in _changes(subscription):
        async with sessions() as session:
            row = await offerings.get_offering(session, principal=principal, id=db_id)
        _observe(item)
        yield Offering.from_row(row)


async def subscribe_position_changed(info: Info, holder: Address) -> AsyncGenerator[list[Position]]:
    """The holder's positions now, then again after each feed item naming the holder.

    Investors may watch their own wallets only; issuers and staff as the positions query allows.
    """
    principal, sessions = info.context.principal, info.context.runtime.sessions

    async def current() -> list[Position]:
        async with sessions() as session:
            listed = await positions.list_positions(
                session, principal=principal, holder=holder, first=MAX_POSITIONS
            )
        return [Position.from_row(row) for row in listed.page.rows]

    await current()  # refuses other people's wallets before anything is opened
    # Opened before the state is read: a change in between is delivered, not lost.
    _, subscription = await _open(info, chain_events.EventFilter(address=holder), None)
    yield await current()
    async for item in _changes(subscription):
        _observe(item)
        yield await current()


async def subscribe_reconciliation_breaks(info: Info) -> AsyncGenerator[ReconciliationBreak]:
    """Breaks opened, changed or closed from now on (ops, admin), in revision order.

    Every change stamps the break with a revision that becomes visible in order
    (dpo.reconciliation.revision), so following `revision > N` misses none, however long the
    transaction that made it. Woken by the break doorbell (dpo.reconciliation.bell) after
    each committed change; read every FEED_POLL_INTERVAL seconds anyway, should a ring be lost.
    """
    ops.require_ops(info.context.principal)
    runtime = info.context.runtime
    sessions = runtime.sessions
    interval = runtime.settings.feed_poll_interval
    bell = await get_bell(runtime.redis, runtime.channels.breaks)
    async with sessions() as session:
        # (revision, id) of the last change delivered: everything up to now counts as seen.
        mark = (
            (await session.scalar(select(func.max(ReconciliationBreakRow.revision)))) or 0,
            2**62,
        )
    cursor = tuple_(ReconciliationBreakRow.revision, ReconciliationBreakRow.id)
    seen = bell.generation
    while True:
        # Returns at once when a ring came after `seen` (taken before the last read).
        seen = await bell.wait(seen, interval)
        async with sessions() as session:
            rows = (
                await session.scalars(
                    select(ReconciliationBreakRow)
                    .where(cursor > tuple_(*mark))
                    .order_by(ReconciliationBreakRow.revision, ReconciliationBreakRow.id)
                    .limit(BREAKS_PAGE)
                )
            ).all()
        ops.require_ops(info.context.principal)
        for row in rows:
            mark = (row.revision, row.id)
            yield ReconciliationBreak.from_row(row)
        if len(rows) == BREAKS_PAGE:
            seen = -1  # more are waiting: read again without waiting


@strawberry.type
class FeedSubscriptionRoot:
    events: AsyncGenerator[ChainEventEdge] = strawberry.subscription(
        resolver=subscribe_events,
        description="Chain event feed items after `after` (a cursor from this subscription or "
        "the `events` query; from now on without it), in feed order, each once. "
        "Reorged events arrive as removal items (`removed`, `removesSequence`).",
    )
    offering_updated: AsyncGenerator[Offering] = strawberry.subscription(
        resolver=subscribe_offering_updated,
        description="The offering (raised, units, status) now and after each on-chain change.",
    )
    position_changed: AsyncGenerator[list[Position]] = strawberry.subscription(
        resolver=subscribe_position_changed,
        description="A holder's positions now and after each on-chain change; your own "
        "wallets unless your role may see more.",
    )
    reconciliation_breaks: AsyncGenerator[ReconciliationBreak] = strawberry.subscription(
        resolver=subscribe_reconciliation_breaks,
        description="Reconciliation breaks as they are found, seen again or resolved (ops).",
    )

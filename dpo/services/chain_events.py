"""The history of the chain event feed, read with the live subscription's cursor.

Chain events are public data (anyone can read them from the chain), so reading the feed needs
no sign-in. The cursor is the feed sequence (`chain_events.id`): "after N" returns items with
id > N in id order, removals included, exactly as the subscription replays them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db import raw_reads
from dpo.db.models import ChainEvent, Offering
from dpo.services.page_window import Slice, settle, window
from dpo.services.pagination import count, decode_sequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventFilter:
    """Which feed items to return; every field given must match."""

    contract: str | None = None
    event_name: str | None = None
    offering_id: int | None = None
    address: str | None = None


EVENTS = ChainEvent.__table__
"""The feed's table: pages are read as rows of it, not as ORM objects (the read path)."""


async def _conditions(session: AsyncSession, spec: EventFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions on EVENTS' columns."""
    columns = EVENTS.c
    conditions: list[ColumnElement[bool]] = []
    if spec.contract is not None:
        # A contract is named by its address or by its name (e.g. "STO").
        conditions.append(
            or_(
                func.lower(columns.contract_address) == spec.contract.lower(),
                columns.contract_name == spec.contract,
            )
        )
    if spec.event_name is not None:
        conditions.append(columns.event_name == spec.event_name)
    if spec.address is not None:
        # Any argument equal to the address: sender, receiver, investor, agent...
        value = func.jsonb_each_text(columns.args).table_valued("key", "value")
        conditions.append(
            exists().select_from(value).where(func.lower(value.c.value) == spec.address.lower())
        )
    if spec.offering_id is not None:
        offering = await session.get(Offering, spec.offering_id)
        matches = []
        # An unknown offering matches nothing rather than failing, so ids cannot be probed.
        if offering is not None and offering.onchain_offering_id is not None:
            matches.append(columns.args["offeringId"].astext == str(offering.onchain_offering_id))
        if offering is not None and offering.token_address is not None:
            matches.append(func.lower(columns.contract_address) == offering.token_address.lower())
        conditions.append(or_(*matches) if matches else false())
    return conditions


async def events_statement(
    session: AsyncSession, *, filter: EventFilter | None = None
) -> Select[ChainEvent]:
    """Feed items matching the filter, unordered and unlimited."""
    return select(ChainEvent).where(*await _conditions(session, filter or EventFilter()))


async def list_events(
    session: AsyncSession,
    *,
    filter: EventFilter | None = None,
    after: int | None = None,
    first: int = 50,
) -> Sequence[ChainEvent]:
    """Feed items with id > after, in feed order, at most `first` of them."""
    query = (await events_statement(session, filter=filter)).order_by(ChainEvent.id).limit(first)
    if after is not None:
        query = query.where(ChainEvent.id > after)
    return list((await session.scalars(query)).all())


async def page_events(
    session: AsyncSession,
    *,
    filter: EventFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Slice[Row[Any]]:
    """A page of feed items between two feed cursors, in feed order, with its pageInfo flags.

    The cursors are feed sequences, as in the subscription; `first`/`after` page forwards,
    `last`/`before` backwards (dpo.services.page_window). The items are rows of EVENTS (their
    columns by name, as the ORM object's attributes), read without the ORM's objects.
    """
    win = window(first=first, after=after, last=last, before=before)
    low = None if after is None else decode_sequence(after)
    high = None if before is None else decode_sequence(before, field="before")
    conditions = await _conditions(session, filter or EventFilter())
    key = EVENTS.c.id
    query = select(EVENTS).where(*conditions)
    if low is not None:
        query = query.where(key > low)
    if high is not None:
        query = query.where(key < high)
    query = query.order_by(key.desc() if win.backward else key)
    # Whether items lie beyond the cursor on the far side (pageInfo) is asked in the same
    # statement, as a column computed once (an uncorrelated subquery): one round trip, not
    # two; only an empty page, which has no row to carry it, asks on its own.
    bound = None
    if win.backward and high is not None:
        bound = key >= high
    elif not win.backward and low is not None:
        bound = key <= low
    if bound is not None:
        beyond_column = select(exists().where(*conditions, bound)).scalar_subquery()
        query = query.add_columns(beyond_column.label("_beyond"))
    # Run on the driver connection: a fixed statement shape (dpo.db.raw_reads).
    rows = await raw_reads.fetch(session, query.limit(win.size + 1))
    beyond = False
    if bound is not None:
        beyond = (
            bool(rows[0]._mapping["_beyond"]) if rows else await _exists(session, conditions, bound)
        )
    return settle(win, rows, beyond=beyond)


async def _exists(
    session: AsyncSession, conditions: list[ColumnElement[bool]], bound: ColumnElement[bool]
) -> bool:
    found = await raw_reads.scalar(session, select(exists().where(*conditions, bound)))
    return bool(found)


async def get_event(session: AsyncSession, sequence: int) -> ChainEvent | None:
    """One feed item by its sequence (public, as the chain is); None if there is none."""
    return await session.get(ChainEvent, sequence)


async def count_events(session: AsyncSession, *, filter: EventFilter | None = None) -> int:
    """How many feed items match the filter, over all pages."""
    return await count(session, await events_statement(session, filter=filter))

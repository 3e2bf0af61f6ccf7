"""The history of the chain event feed, read with the live subscription's cursor.

Chain events are public data (anyone can read them from the chain), so reading the feed needs
no sign-in. The cursor is the feed sequence (`chain_events.id`): "after N" returns items with
id > N in id order, removals included, exactly as the subscription replays them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

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


async def events_statement(
    session: AsyncSession, *, filter: EventFilter | None = None
) -> Select[ChainEvent]:
    """Feed items matching the filter, unordered and unlimited."""
    spec = filter or EventFilter()
    query = select(ChainEvent)
    if spec.contract is not None:
        # A contract is named by its address or by its name (e.g. "STO").
        query = query.where(
            or_(
                func.lower(ChainEvent.contract_address) == spec.contract.lower(),
                ChainEvent.contract_name == spec.contract,
            )
        )
    if spec.event_name is not None:
        query = query.where(ChainEvent.event_name == spec.event_name)
    if spec.address is not None:
        # Any argument equal to the address: sender, receiver, investor, agent...
        value = func.jsonb_each_text(ChainEvent.args).table_valued("key", "value")
        query = query.where(
            exists().select_from(value).where(func.lower(value.c.value) == spec.address.lower())
        )
    if spec.offering_id is not None:
        offering = await session.get(Offering, spec.offering_id)
        matches = []
        # An unknown offering matches nothing rather than failing, so ids cannot be probed.
        if offering is not None and offering.onchain_offering_id is not None:
            matches.append(
                ChainEvent.args["offeringId"].astext == str(offering.onchain_offering_id)
            )
        if offering is not None and offering.token_address is not None:
            matches.append(
                func.lower(ChainEvent.contract_address) == offering.token_address.lower()
            )
        query = query.where(or_(*matches) if matches else text("false"))
    return query


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
) -> Slice[ChainEvent]:
    """A page of feed items between two feed cursors, in feed order, with its pageInfo flags.

    The cursors are feed sequences, as in the subscription; `first`/`after` page forwards,
    `last`/`before` backwards (dpo.services.page_window).
    """
    win = window(first=first, after=after, last=last, before=before)
    low = None if after is None else decode_sequence(after)
    high = None if before is None else decode_sequence(before, field="before")
    base = await events_statement(session, filter=filter)
    query = base
    if low is not None:
        query = query.where(ChainEvent.id > low)
    if high is not None:
        query = query.where(ChainEvent.id < high)
    query = query.order_by(ChainEvent.id.desc() if win.backward else ChainEvent.id)
    rows = list((await session.scalars(query.limit(win.size + 1))).all())
    beyond = False
    if win.backward and high is not None:
        beyond = bool(await session.scalar(select(exists(base.where(ChainEvent.id >= high)))))
    elif not win.backward and low is not None:
        beyond = bool(await session.scalar(select(exists(base.where(ChainEvent.id <= low)))))
    return settle(win, rows, beyond=beyond)


async def get_event(session: AsyncSession, sequence: int) -> ChainEvent | None:
    """One feed item by its sequence (public, as the chain is); None if there is none."""
    return await session.get(ChainEvent, sequence)


async def count_events(session: AsyncSession, *, filter: EventFilter | None = None) -> int:
    """How many feed items match the filter, over all pages."""
    return await count(session, await events_statement(session, filter=filter))

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

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
)
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


async def events_statement(
    session: AsyncSession, *, filter: EventFilter | None = None
) -> Select[ChainEvent]:
    """Feed items matching the filter, unordered and unlimited."""
    parts, values = await _filter_values(session, filter or EventFilter())
    return select(ChainEvent).where(*_named_conditions(parts)).params(values)


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
    reads: raw_reads.Reads,
    *,
    filter: EventFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Slice[Any]:
    """A page of feed items between two feed cursors, in feed order, with its pageInfo flags.

    The cursors are feed sequences, as in the subscription; `first`/`after` page forwards,
    `last`/`before` backwards (dpo.services.page_window). The items are rows of EVENTS (their
    columns by name, as the ORM object's attributes), read without the ORM's objects.

    The statement is built once per shape (which filters, which cursors, which direction)
    with every value a named parameter, and run on the driver connection
    (`raw_reads.fetch_fixed`): a request binds values and builds no statement.
    """
    win = window(first=first, after=after, last=last, before=before)
    low = None if after is None else decode_sequence(after)
    high = None if before is None else decode_sequence(before, field="before")
    parts, values = await _filter_values(reads, filter or EventFilter())
    values.update(low=low, high=high, size=win.size + 1)
    # Whether items lie beyond the cursor on the far side (pageInfo) is asked in the same
    # statement, as a column computed once (an uncorrelated subquery): one round trip, not
    # two; only an empty page, which has no row to carry it, asks on its own.
    bound = None
    if win.backward and high is not None:
        bound = "high"
    elif not win.backward and low is not None:
        bound = "low"
    shape = (parts, low is not None, high is not None, win.backward, bound)
    rows = await raw_reads.fetch_fixed(
        reads, ("events page", shape), lambda: _page_statement(*shape), values
    )
    beyond = False
    if bound is not None:
        if rows:
            beyond = bool(rows[0]._mapping["_beyond"])
        else:
            side = bound
            found = await raw_reads.fetch_fixed(
                reads,
                ("events beyond", parts, side),
                lambda: select(exists().where(*_named_conditions(parts), _bound(side))),
                values,
            )
            beyond = bool(found[0][0])
    return settle(win, rows, beyond=beyond)


async def _filter_values(
    reads: raw_reads.Reads, spec: EventFilter
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filter's shape (which conditions apply) and their values, by parameter name."""
    parts: list[str] = []
    values: dict[str, Any] = {}
    if spec.contract is not None:
        # A contract is named by its address or by its name (e.g. "STO").
        parts.append("contract")
        values.update(contract=spec.contract, contract_lower=spec.contract.lower())
    if spec.event_name is not None:
        parts.append("event_name")
        values["event_name"] = spec.event_name
    if spec.address is not None:
        parts.append("address")
        values["address"] = spec.address.lower()
    if spec.offering_id is not None:
        # A raw read (no ORM object): a page of events then needs no session.
        found = await raw_reads.fetch_fixed(
            reads, ("events offering",), _offering_keys, {"id": spec.offering_id}
        )
        onchain, token = found[0] if found else (None, None)
        # An unknown offering matches nothing rather than failing, so ids cannot be probed.
        parts.append("offering")
        if onchain is not None:
            parts.append("onchain")
            values.update(offering_key="offeringId", onchain=str(onchain))
        if token is not None:
            parts.append("token")
            values["token"] = token.lower()
    return tuple(parts), values


def _offering_keys() -> Select[Any]:
    """What the feed knows an offering by: its on-chain id and its token's address."""
    offerings = Offering.__table__
    columns = offerings.c.onchain_offering_id, offerings.c.token_address
    return select(*columns).where(offerings.c.id == bindparam("id"))


def _named_conditions(parts: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """The filter's conditions on EVENTS' columns, every value a named parameter (bound from
    `_filter_values`), so one statement serves every value of a shape."""
    columns = EVENTS.c
    conditions: list[ColumnElement[bool]] = []
    if "contract" in parts:
        conditions.append(
            or_(
                func.lower(columns.contract_address) == bindparam("contract_lower"),
                columns.contract_name == bindparam("contract"),
            )
        )
    if "event_name" in parts:
        conditions.append(columns.event_name == bindparam("event_name"))
    if "address" in parts:
        # Any argument equal to the address: sender, receiver, investor, agent...
        value = func.jsonb_each_text(columns.args).table_valued("key", "value")
        conditions.append(
            exists().select_from(value).where(func.lower(value.c.value) == bindparam("address"))
        )
    if "offering" in parts:
        matches = []
        if "onchain" in parts:
            key = bindparam("offering_key", type_=Text)
            matches.append(columns.args[key].astext == bindparam("onchain"))
        if "token" in parts:
            matches.append(func.lower(columns.contract_address) == bindparam("token"))
        conditions.append(or_(*matches) if matches else false())
    return conditions


def _bound(side: str) -> ColumnElement[bool]:
    """Items at or beyond the cursor on the far side of the window."""
    key = EVENTS.c.id
    return key <= bindparam("low") if side == "low" else key >= bindparam("high")


def _page_statement(
    parts: tuple[str, ...], low: bool, high: bool, backward: bool, bound: str | None
) -> Select[Any]:
    key = EVENTS.c.id
    conditions = _named_conditions(parts)
    query = select(EVENTS).where(*conditions)
    if low:
        query = query.where(key > bindparam("low"))
    if high:
        query = query.where(key < bindparam("high"))
    query = query.order_by(key.desc() if backward else key)
    if bound is not None:
        beyond = select(exists().where(*conditions, _bound(bound))).scalar_subquery()
        query = query.add_columns(beyond.label("_beyond"))
    return query.limit(bindparam("size", type_=Integer))


async def get_event(session: AsyncSession, sequence: int) -> ChainEvent | None:
    """One feed item by its sequence (public, as the chain is); None if there is none."""
    return await session.get(ChainEvent, sequence)


async def count_events(session: AsyncSession, *, filter: EventFilter | None = None) -> int:
    """How many feed items match the filter, over all pages."""
    return await count(session, await events_statement(session, filter=filter))

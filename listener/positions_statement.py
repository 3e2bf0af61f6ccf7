"""Applying a batch's position changes in one statement (listener.projections_positions).

A Transfer at the tip used to cost three round trips after the event's own write: the
offering of the token, the positions read (FOR UPDATE) and the upsert. Here they are common
table expressions of one statement: the deltas summed per (holder, token) in Python arrive as
arrays, each token's offering is the subquery the lookup was (the oldest offering pointing at
the token), the current rows are read and locked as before (`FOR UPDATE`: at READ COMMITTED a
writer that waited sees the row as the other left it), and the new values are written only
if none would be invalid (negative, or more frozen than held). The statement answers the
tokens no offering points at and the invalid rows, so the caller counts skipped events, logs,
and raises ProjectionError as before; an invalid batch wrote nothing of its positions and
its transaction rolls back.

`ctes(gate)` are the expressions alone, so that listener.store_write can make them part of the
tip's one statement: `gate` is that statement's condition that the checkpoint is where the
batch starts (locked first: the positions are read only when it holds), and `pbad` is what
its other writes wait on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from listener.projections_common import (
    ZERO_ADDRESS,
    ProjectionError,
    ProjectionStats,
    StoredEvent,
)

logger = logging.getLogger(__name__)

POSITION_EVENTS = frozenset({"Transfer", "TokensFrozen", "TokensUnfrozen"})

PARAMETERS = ("p_holders", "p_tokens", "p_quantities", "p_frozens", "p_blocks", "p_times")


def ctes(gate: str = "") -> list[str]:
    """The statement's expressions: pd (deltas with their offering), pcur, pnew, pbad, pup."""
    return [
        "pd AS (SELECT u.h, u.t, u.q, u.f, u.b, u.tm, (SELECT id FROM offerings "
        "WHERE lower(token_address) = u.t ORDER BY id LIMIT 1) AS o FROM unnest("
        "@p_holders::varchar[], @p_tokens::varchar[], @p_quantities::numeric[], "
        "@p_frozens::numeric[], @p_blocks::bigint[], @p_times::timestamptz[]) "
        "AS u(h, t, q, f, b, tm))",
        "pcur AS (SELECT p.holder_address AS h, p.offering_id AS o, p.quantity AS q, "  # noqa: S608 - constants
        "p.frozen_quantity AS f FROM positions p JOIN pd ON p.holder_address = pd.h "
        f"AND p.offering_id = pd.o WHERE p.location = 'onchain'{gate} FOR UPDATE OF p)",
        "pnew AS (SELECT pd.h, pd.o, coalesce(pcur.q, 0) + pd.q AS q, "
        "coalesce(pcur.f, 0) + pd.f AS f, pd.b, pd.tm FROM pd LEFT JOIN pcur "
        "ON pcur.h = pd.h AND pcur.o = pd.o WHERE pd.o IS NOT NULL)",
        "pbad AS (SELECT h, o, q, f FROM pnew WHERE q < 0 OR f < 0 OR f > q)",
        "pup AS (INSERT INTO positions AS p (holder_address, offering_id, location, quantity, "  # noqa: S608 - constants
        "frozen_quantity, as_of_block, as_of_time) "
        "SELECT h, o, 'onchain', q, f, b, coalesce(tm, now()) FROM pnew "
        f"WHERE NOT EXISTS (SELECT 1 FROM pbad){gate} "
        "ON CONFLICT (holder_address, offering_id, location) DO UPDATE SET "
        "quantity = excluded.quantity, frozen_quantity = excluded.frozen_quantity, "
        "as_of_block = excluded.as_of_block, as_of_time = excluded.as_of_time)",
    ]


# The statement's answer: tokens without an offering, and the invalid rows (as text: uint256).
ANSWER = (
    "(SELECT array_agg(DISTINCT t) FROM pd WHERE o IS NULL), "
    "(SELECT array_agg(ARRAY[h, o::text, q::text, f::text] ORDER BY h, o) FROM pbad)"
)


def numbered(sql: str) -> tuple[str, list[str]]:
    """`sql` with $n for its @names, and the names in $ order (asyncpg's placeholders)."""
    names: list[str] = []
    for name in re.findall(r"@(\w+)", sql):
        if name not in names:
            names.append(name)
    for index, name in enumerate(names, 1):
        sql = re.sub(rf"@{name}\b", f"${index}", sql)
    return sql, names


STATEMENT = numbered(f"WITH {', '.join(ctes())} SELECT {ANSWER}")


@dataclass
class _Sum:
    quantity: int = 0
    frozen: int = 0
    block: int = 0
    time: datetime | None = None


@dataclass
class Deltas:
    """A batch's position changes summed per (holder, lowercase token), and its events per
    token (what is applied or skipped once the statement says which tokens have an offering).
    """

    sums: dict[tuple[str, str], _Sum] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    # The token's address as the first of its events spelt it (for the warning).
    spelt: dict[str, str] = field(default_factory=dict)

    def add(self, holder: str, event: StoredEvent, quantity: int = 0, frozen: int = 0) -> None:
        """One holder's change by an event (the newest block's time is the row's)."""
        token = event.log.contract_address.lower()
        change = self.sums.setdefault((holder, token), _Sum())
        change.quantity += quantity
        change.frozen += frozen
        if event.log.block_number >= change.block:
            change.block, change.time = event.log.block_number, event.time

    def values(self) -> dict[str, Any]:
        """The statement's parameters by name."""
        keys = list(self.sums)
        sums = [self.sums[k] for k in keys]
        arrays: tuple[list[Any], ...] = (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [s.quantity for s in sums],
            [s.frozen for s in sums],
            [s.block for s in sums],
            [s.time for s in sums],
        )
        return dict(zip(PARAMETERS, arrays, strict=True))


def collect(events: Sequence[StoredEvent]) -> Deltas:
    """The position changes of the Issuance events among `events` (applied, not reverted)."""
    deltas = Deltas()
    for event in events:
        log = event.log
        if log.contract_name != "Issuance" or log.event_name not in POSITION_EVENTS:
            continue
        token = log.contract_address.lower()
        deltas.events[token] = deltas.events.get(token, 0) + 1
        deltas.spelt.setdefault(token, log.contract_address)
        args = log.args
        if log.event_name == "Transfer":
            value = int(args["value"])
            if args["from"] != ZERO_ADDRESS:
                deltas.add(args["from"], event, quantity=-value)
            if args["to"] != ZERO_ADDRESS:
                deltas.add(args["to"], event, quantity=value)
        else:
            amount = int(args["amount"])
            if log.event_name == "TokensUnfrozen":
                amount = -amount
            deltas.add(args["userAddress"], event, frozen=amount)
    return deltas


def settle(deltas: Deltas, missing: Any, bad: Any, stats: ProjectionStats) -> None:
    """Count the applied and skipped events from the statement's answer; raise
    ProjectionError (the transaction rolls back) if a position would have been invalid.
    """
    skipped = set(missing or ())
    for token, count in deltas.events.items():
        if token in skipped:
            stats.skipped += count
            # Once per token and batch: a backfill would otherwise log every transfer.
            logger.warning(
                "no offering has token %s: its positions are not projected", deltas.spelt[token]
            )
        else:
            stats.applied += count
    for holder, offering, quantity, frozen in bad or ():
        logger.error(
            "position of %s in offering %s would become %s (frozen %s): a missed or "
            "duplicated event; rolling the batch back",
            holder,
            offering,
            quantity,
            frozen,
        )
        raise ProjectionError(f"position of {holder} in offering {offering} would be invalid")


async def apply_positions(
    connection: Any, events: Sequence[StoredEvent], stats: ProjectionStats
) -> None:
    """Apply the position changes among `events` in one statement (`connection`: SQLAlchemy's
    AsyncConnection in the batch's transaction)."""
    deltas = collect(events)
    if not deltas.events:
        return
    sql, names = STATEMENT
    values = deltas.values()
    row = (await connection.exec_driver_sql(sql, tuple(values[n] for n in names))).one()
    settle(deltas, row[0], row[1], stats)

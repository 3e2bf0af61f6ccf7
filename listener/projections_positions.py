"""On-chain positions from the Issuance token's Transfer, TokensFrozen and TokensUnfrozen.

The instrument of a token is the offering whose `token_address` is the Issuance contract;
when several offerings share one token (tranches of one security), positions are booked on
the oldest (lowest id), since a transfer does not say which tranche it moves. Events of a
token no offering points at are skipped and counted. A batch's changes are summed per
(holder, offering) and applied in one statement (listener.positions_statement: the offering,
the read and the upsert), so big backfills stay fast and a Transfer at the tip costs one round
trip; a revert reads first and writes after.
Holder addresses are checksummed. A reverted change that leaves a position at zero deletes
the row (unless linked to an investor): for the on-chain location a zero row and no row both
mean "holds nothing". On revert `as_of_block`/`as_of_time` go back to those of the holder's
last change that is still live (what a clean run of the new chain gives); without one, the
block before the earliest reverted change. `AddressFrozen` has no column to land in and stays
in the event feed only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from listener.positions_statement import POSITION_EVENTS, apply_positions
from listener.projections_common import (
    ZERO_ADDRESS,
    ProjectionError,
    ProjectionStats,
    StoredEvent,
)

logger = logging.getLogger(__name__)

__all__ = ["POSITION_EVENTS", "project_positions"]


@dataclass
class _Delta:
    quantity: int = 0
    frozen: int = 0
    block: int = 0
    time: datetime | None = None
    first_block: int | None = None
    token: str = ""
    chain_id: int = 0


async def _offering_of(
    connection: AsyncConnection, token: str, cache: dict[str, int | None]
) -> int | None:
    if token not in cache:
        cache[token] = (
            await connection.execute(
                text(
                    "SELECT id FROM offerings WHERE lower(token_address) = :a ORDER BY id LIMIT 1"
                ),
                {"a": token.lower()},
            )
        ).scalar_one_or_none()
    return cache[token]


def _add(
    deltas: dict[tuple[str, int], _Delta],
    key: tuple[str, int],
    event: StoredEvent,
    quantity: int = 0,
    frozen: int = 0,
) -> None:
    delta = deltas.setdefault(
        key, _Delta(token=event.log.contract_address, chain_id=event.log.chain_id)
    )
    delta.quantity += quantity
    delta.frozen += frozen
    block = event.log.block_number
    if block >= delta.block:
        delta.block, delta.time = block, event.time
    if delta.first_block is None or block < delta.first_block:
        delta.first_block = block


async def project_positions(
    connection: AsyncConnection,
    events: Sequence[StoredEvent],
    *,
    revert: bool,
    stats: ProjectionStats,
) -> None:
    """Apply (or revert) the position changes of the Issuance events among `events`.

    Applying is one statement (listener.positions_statement); a revert, rare, reads the
    offering and the positions first and writes after, as applying did.
    """
    if not revert:
        await apply_positions(connection, events, stats)
        return
    sign = -1
    offerings: dict[str, int | None] = {}
    deltas: dict[tuple[str, int], _Delta] = {}
    for event in events:
        log = event.log
        if log.contract_name != "Issuance" or log.event_name not in POSITION_EVENTS:
            continue
        known = log.contract_address in offerings
        offering_id = await _offering_of(connection, log.contract_address, offerings)
        if offering_id is None:
            stats.skipped += 1
            if not known:
                # Once per token and batch: a backfill would otherwise log every transfer.
                logger.warning(
                    "no offering has token %s: its positions are not projected",
                    log.contract_address,
                )
            continue
        args = log.args
        if log.event_name == "Transfer":
            value = int(args["value"]) * sign
            if args["from"] != ZERO_ADDRESS:
                _add(deltas, (args["from"], offering_id), event, quantity=-value)
            if args["to"] != ZERO_ADDRESS:
                _add(deltas, (args["to"], offering_id), event, quantity=value)
        else:
            amount = int(args["amount"]) * sign
            if log.event_name == "TokensUnfrozen":
                amount = -amount
            _add(deltas, (args["userAddress"], offering_id), event, frozen=amount)
        stats.applied += 1
    if deltas:
        await _write(connection, deltas, revert=revert)


async def _last_changes(
    connection: AsyncConnection,
    deltas: dict[tuple[str, int], _Delta],
) -> dict[tuple[str, int], tuple[int, datetime | None]]:
    """Per reverted key: block and time of the holder's newest live change below the revert.

    Runs before the reverted events are marked removed, hence `block_number < first_block`.
    Reverts are rare; each key walks the chain's events down from there.
    """
    keys = list(deltas)
    rows = await connection.execute(
        text(
            "SELECT u.i, e.block_number, e.block_timestamp FROM unnest("
            "CAST(:h AS varchar[]), CAST(:t AS varchar[]), CAST(:c AS bigint[]), "
            "CAST(:f AS bigint[]), CAST(:i AS int[])) AS u(h, t, c, f, i) "
            "CROSS JOIN LATERAL (SELECT block_number, block_timestamp FROM chain_events "
            "WHERE chain_id = u.c AND block_number < u.f AND contract_address = u.t "
            "AND NOT removed AND event_name IN ('Transfer', 'TokensFrozen', 'TokensUnfrozen') "
            "AND u.h IN (args->>'from', args->>'to', args->>'userAddress') "
            "ORDER BY block_number DESC, log_index DESC LIMIT 1) AS e"
        ),
        {
            "h": [k[0] for k in keys],
            "t": [deltas[k].token for k in keys],
            "c": [deltas[k].chain_id for k in keys],
            "f": [deltas[k].first_block for k in keys],
            "i": list(range(len(keys))),
        },
    )
    return {keys[int(r[0])]: (int(r[1]), r[2]) for r in rows}


async def _write(
    connection: AsyncConnection, deltas: dict[tuple[str, int], _Delta], *, revert: bool
) -> None:
    keys = list(deltas)
    rows = await connection.execute(
        text(
            "SELECT holder_address, offering_id, quantity, frozen_quantity FROM positions "
            "WHERE location = 'onchain' AND (holder_address, offering_id) IN "
            "(SELECT * FROM unnest(CAST(:h AS varchar[]), CAST(:o AS bigint[]))) FOR UPDATE"
        ),
        {"h": [k[0] for k in keys], "o": [k[1] for k in keys]},
    )
    current = {(str(r[0]), int(r[1])): (int(r[2]), int(r[3])) for r in rows}
    last_real = await _last_changes(connection, deltas) if revert else {}
    holders: list[str] = []
    offering_ids: list[int] = []
    quantities: list[int] = []
    frozens: list[int] = []
    blocks: list[int] = []
    times: list[datetime | None] = []
    for key in keys:
        delta = deltas[key]
        quantity, frozen = current.get(key, (0, 0))
        quantity, frozen = quantity + delta.quantity, frozen + delta.frozen
        if quantity < 0 or frozen < 0 or frozen > quantity:
            logger.error(
                "position of %s in offering %d would become %d (frozen %d): a missed or "
                "duplicated event; rolling the batch back",
                key[0],
                key[1],
                quantity,
                frozen,
            )
            raise ProjectionError(f"position of {key[0]} in offering {key[1]} would be invalid")
        holders.append(key[0])
        offering_ids.append(key[1])
        quantities.append(quantity)
        frozens.append(frozen)
        if revert:
            assert delta.first_block is not None
            block, when = last_real.get(key, (max(delta.first_block - 1, 0), None))
            blocks.append(block)
            times.append(when)
        else:
            blocks.append(delta.block)
            times.append(delta.time)
    await connection.execute(
        text(
            "INSERT INTO positions AS p (holder_address, offering_id, location, quantity, "
            "frozen_quantity, as_of_block, as_of_time) "
            "SELECT h, o, 'onchain', q, f, b, coalesce(t, now()) FROM unnest("
            "CAST(:h AS varchar[]), CAST(:o AS bigint[]), CAST(:q AS numeric[]), "
            "CAST(:f AS numeric[]), CAST(:b AS bigint[]), CAST(:t AS timestamptz[])) "
            "AS u(h, o, q, f, b, t) "
            "ON CONFLICT (holder_address, offering_id, location) DO UPDATE SET "
            "quantity = excluded.quantity, frozen_quantity = excluded.frozen_quantity, "
            "as_of_block = excluded.as_of_block, as_of_time = excluded.as_of_time"
        ),
        {"h": holders, "o": offering_ids, "q": quantities, "f": frozens, "b": blocks, "t": times},
    )
    if revert:
        await connection.execute(
            text(
                "DELETE FROM positions WHERE location = 'onchain' AND quantity = 0 "
                "AND frozen_quantity = 0 AND investor_id IS NULL "
                "AND (holder_address, offering_id) IN "
                "(SELECT * FROM unnest(CAST(:h AS varchar[]), CAST(:o AS bigint[])))"
            ),
            {"h": holders, "o": offering_ids},
        )

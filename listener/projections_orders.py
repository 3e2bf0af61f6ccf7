"""Investment states and offering totals from a run of events, in a few statements per batch.

The chain drives these transitions (each event matches its investment by `onchain_reference`,
the bytes32 investmentRef as lowercase 0x-hex): pending_payment → paid (InvestmentReceived),
pending_payment | paid → issued (Issued, with the investor's `tokens_issued` message in the
outbox), paid | issued → refunded (InvestmentRefunded). A revert recomputes the state from
the timestamps the forward steps set (issued_at, paid_at), so it lands where the investment
was. InvestmentReceived / InvestmentRefunded also add to / take from their linked offering's
amount raised and units sold (amounts in the currency's minor unit).

A backfill holds an Issued event per order the platform issued, so one statement per event
made matching the listener's bottleneck. Here a run of events is folded instead: the orders
they name are read once (locked, in id order), every event is applied in the given order in
`step` (the same conditions the statements per event had, so several events of one order in a
batch end as they would one by one), and the changed orders with their messages, then the
offering totals, are written with one statement each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from listener.projections_common import Known, ProjectionStats, StoredEvent, minor_to_decimal

ORDER_EVENTS = frozenset(
    {("STO", "InvestmentReceived"), ("STO", "InvestmentRefunded"), ("Issuance", "Issued")}
)


@dataclass(slots=True)
class Order:
    """An investment's chain-driven columns; `issued`: a forward Issued moved it here."""

    id: int
    state: str
    tx_hash: str | None
    paid_at: datetime | None
    issued_at: datetime | None
    changed: bool = False
    issued: bool = False


def step(order: Order, event: str, tx: str, when: datetime, revert: bool) -> bool:
    """Apply (or undo) one event to its order; whether it matched the order's state."""
    before = (order.state, order.tx_hash, order.paid_at, order.issued_at)
    if event == "InvestmentReceived":
        if not revert and order.state == "pending_payment":
            order.state, order.paid_at, order.tx_hash = "paid", when, tx
        elif revert and order.state == "paid" and order.tx_hash == tx:
            order.state, order.paid_at, order.tx_hash = "pending_payment", None, None
    elif event == "InvestmentRefunded":
        if not revert and order.state in ("paid", "issued"):
            order.state = "refunded"
        elif revert and order.state == "refunded":
            order.state = (
                "issued" if order.issued_at else "paid" if order.paid_at else "pending_payment"
            )
    elif not revert and order.state in ("pending_payment", "paid"):  # Issued
        order.state, order.issued_at, order.issued = "issued", when, True
        order.tx_hash = order.tx_hash if order.tx_hash is not None else tx
    elif revert and order.state == "issued":
        order.issued_at = None
        order.state = "paid" if order.paid_at else "pending_payment"
        order.tx_hash = None if order.tx_hash == tx else order.tx_hash
    else:
        return False
    matched = before != (order.state, order.tx_hash, order.paid_at, order.issued_at)
    order.changed |= matched
    return matched


async def _orders(connection: AsyncConnection, refs: set[str]) -> dict[str, Order]:
    rows = await connection.execute(
        text(
            "SELECT onchain_reference, id, state, tx_hash, paid_at, issued_at FROM investments "
            "WHERE onchain_reference = ANY(CAST(:refs AS varchar[])) ORDER BY id FOR UPDATE"
        ),
        {"refs": sorted(refs)},
    )
    return {str(r[0]): Order(int(r[1]), str(r[2]), r[3], r[4], r[5]) for r in rows}


async def project_orders(
    connection: AsyncConnection,
    events: Sequence[StoredEvent],
    *,
    revert: bool,
    known: Known,
    stats: ProjectionStats,
) -> None:
    """Apply (or undo, events newest first) a run of ORDER_EVENTS events."""
    if not events:
        return
    orders = await _orders(connection, {str(e.log.args["investmentRef"]) for e in events})
    totals: dict[int, tuple[Decimal, int]] = {}
    for event in events:
        log, args = event.log, event.log.args
        matched = False
        if log.event_name != "Issued":
            offering = known.offerings.get(int(args["offeringId"]))
            if offering is not None:
                sign = -1 if (log.event_name == "InvestmentRefunded") != revert else 1
                raised, units = totals.get(offering[0], (Decimal(0), 0))
                amount = minor_to_decimal(args["amount"], offering[1])
                totals[offering[0]] = (raised + amount * sign, units + int(args["units"]) * sign)
                matched = True
        order = orders.get(str(args["investmentRef"]))
        if order is not None and step(order, log.event_name, log.tx_hash, event.time, revert):
            matched = True
        if matched:
            stats.applied += 1
        else:
            stats.skipped += 1
    await _write(connection, [o for o in orders.values() if o.changed], totals)


async def _write(
    connection: AsyncConnection, changed: list[Order], totals: dict[int, tuple[Decimal, int]]
) -> None:
    if changed:
        # One statement: the orders, and the messages of those a forward Issued moved (the
        # investor hears of it from the same commit; the key makes a replay, a revert and the
        # block back or a rewind, add no second message).
        await connection.execute(
            text(_ORDERS_AND_MESSAGES),
            {
                "ids": [o.id for o in changed],
                "s": [o.state for o in changed],
                "tx": [o.tx_hash for o in changed],
                "p": [o.paid_at for o in changed],
                "d": [o.issued_at for o in changed],
                "m": [o.issued for o in changed],
            },
        )
    if totals:
        ids = sorted(totals)
        await connection.execute(
            text(
                "UPDATE offerings AS o SET amount_raised = o.amount_raised + u.a, "
                "units_sold = o.units_sold + u.n, updated_at = now() FROM unnest("
                "CAST(:ids AS bigint[]), CAST(:a AS numeric[]), CAST(:n AS numeric[])) "
                "AS u(id, a, n) WHERE o.id = u.id"
            ),
            {
                "ids": ids,
                "a": [totals[i][0] for i in ids],
                "n": [totals[i][1] for i in ids],
            },
        )


# The notification outbox's rows (dpo.notifications.outbox) from the updated orders' own
# RETURNING (no second read of them), written in SQL like the rest of the ingestion
# transaction; investors without an e-mail get none.
_ORDERS_AND_MESSAGES = (
    "WITH updated AS (UPDATE investments AS i SET state = u.s, tx_hash = u.tx, paid_at = u.p, "
    "issued_at = u.d, updated_at = now() FROM unnest(CAST(:ids AS bigint[]), "
    "CAST(:s AS varchar[]), CAST(:tx AS varchar[]), CAST(:p AS timestamptz[]), "
    "CAST(:d AS timestamptz[]), CAST(:m AS boolean[])) AS u(id, s, tx, p, d, m) "
    "WHERE i.id = u.id "
    "RETURNING i.id, i.investor_id, i.offering_id, i.payment_reference, i.units, u.m) "
    "INSERT INTO notifications (key, audience, event, email, fields) "
    "SELECT 'tokens_issued:inv:' || d.id, 'investor', 'tokens_issued', v.email, "
    "jsonb_build_object('reference', d.payment_reference, 'units', d.units::text, "
    "'offering', o.name) "
    "FROM updated d JOIN investors v ON v.id = d.investor_id "
    "JOIN offerings o ON o.id = d.offering_id "
    "WHERE d.m AND v.email IS NOT NULL "
    "ORDER BY d.id ON CONFLICT (key) DO NOTHING"
)

"""Derivative trade reports and Euroclear bridge transfers, one row per event.

Rows are written with one statement per table and batch (`project_rows`); bridge status
changes then run event by event, since they depend on order.
Rows carry the id of the event that created them (`chain_event_id`), so a revert deletes
exactly those rows. Values our columns cannot hold (a UTI or ISIN that is not text of the
right shape, an account longer than 35 characters) are skipped with a warning and counted,
never failing the batch. Bridge statuses map 1..5 to pending, instructed, settled, failed,
cancelled; the creation's TransferStatusChanged(ref, 0, 1) adds nothing (the TokensLocked /
TokensReleased row starts pending), later changes move the status from old to new and back
on revert; settled also sets `settled_at`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dpo.db.models.checks import CURRENCY_RE, ISIN_RE
from listener.projections_common import Known, ProjectionStats, StoredEvent, minor_to_decimal

logger = logging.getLogger(__name__)

ACTIONS = {1: "new", 2: "modify", 3: "cancel"}
# NUMERIC(38, 18) holds less than 10**20.
MONEY_LIMIT = 10**20
BRIDGE_STATUSES = {1: "pending", 2: "instructed", 3: "settled", 4: "failed", 5: "cancelled"}


def _skip(event: StoredEvent, why: str) -> None:
    logger.warning(
        "%s.%s in tx %s log %d not projected: %s",
        event.log.contract_name,
        event.log.event_name,
        event.log.tx_hash,
        event.log.log_index,
        why,
    )


def _party(args: dict[str, str], name: str) -> str:
    """An LEI as text; a non-text bytes32 as its 64 hex digits (the column holds 64)."""
    return args.get(f"{name}_text") or args[name].removeprefix("0x")


def _report_row(event: StoredEvent) -> dict[str, Any] | None:
    args = event.log.args
    uti, currency = args.get("uti_text"), args.get("currency_text", "")
    action = ACTIONS.get(int(args["action"]))
    if uti is None or len(uti) > 52:
        _skip(event, "the UTI is not text of at most 52 characters")
        return None
    if action is None:
        _skip(event, f"unknown action {args['action']}")
        return None
    if not re.match(CURRENCY_RE, currency):
        _skip(event, f"currency {currency!r} is not an ISO 4217 code")
        return None
    notional = minor_to_decimal(args["notional"], currency)
    if notional >= MONEY_LIMIT:
        _skip(event, "the notional exceeds what the money column holds")
        return None
    return {
        "uti": uti,
        "action": action,
        "version": int(args["version"]),
        "product": str(args["product"])[:64],
        "notional": notional,
        "currency": currency,
        "counterparty_a": _party(args, "counterpartyA"),
        "counterparty_b": _party(args, "counterpartyB"),
        "reported_at": event.time,
        "chain_event_id": event.id,
    }


def _bridge_row(event: StoredEvent) -> dict[str, Any] | None:
    args = event.log.args
    isin, account = args.get("isin_text", ""), args.get("euroclearAccount_text")
    if not re.match(ISIN_RE, isin):
        _skip(event, f"ISIN {isin!r} is not a valid ISIN")
        return None
    if account is None or len(account) > 35:
        _skip(event, "the Euroclear account is not text of at most 35 characters")
        return None
    return {
        "direction": "lock" if event.log.event_name == "TokensLocked" else "release",
        "isin": isin,
        "amount": int(args["amount"]),
        "holder_address": args["holder"],
        "euroclear_account": account,
        "reference": args["ref"],
        "status": "pending",
        "tx_hash": event.log.tx_hash,
        "chain_event_id": event.id,
    }


# table -> (builder, conflict target, column -> array type)
_TABLES: dict[str, tuple[Callable[[StoredEvent], dict[str, Any] | None], str, dict[str, str]]] = {
    "derivative_reports": (
        _report_row,
        "(uti, action, version)",
        {
            "uti": "varchar",
            "action": "varchar",
            "version": "integer",
            "product": "varchar",
            "notional": "numeric",
            "currency": "varchar",
            "counterparty_a": "varchar",
            "counterparty_b": "varchar",
            "reported_at": "timestamptz",
            "chain_event_id": "bigint",
        },
    ),
    "bridge_transfers": (
        _bridge_row,
        "(reference)",
        {
            "direction": "varchar",
            "isin": "varchar",
            "amount": "numeric",
            "holder_address": "varchar",
            "euroclear_account": "varchar",
            "reference": "varchar",
            "status": "varchar",
            "tx_hash": "varchar",
            "chain_event_id": "bigint",
        },
    ),
}
ROW_EVENTS = {
    ("DerivativesReporter", "TradeReported"): "derivative_reports",
    ("EuroclearBridge", "TokensLocked"): "bridge_transfers",
    ("EuroclearBridge", "TokensReleased"): "bridge_transfers",
}


async def project_rows(
    connection: AsyncConnection,
    events: Sequence[StoredEvent],
    *,
    revert: bool,
    stats: ProjectionStats,
) -> None:
    """Insert (or, on revert, delete) the rows of TradeReported / TokensLocked / Released.

    One statement per table and batch; a row already there (same UTI, action and version, or
    same bridge reference) is left alone and its event counted as skipped.
    """
    by_table: dict[str, list[StoredEvent]] = {}
    for event in events:
        table = ROW_EVENTS.get((event.log.contract_name, event.log.event_name))
        if table is not None:
            by_table.setdefault(table, []).append(event)
    for table, chosen in by_table.items():
        if revert:
            result = await connection.execute(
                text(_DELETES[table]), {"ids": [e.id for e in chosen]}
            )
            done = len(result.all())
            stats.applied += done
            stats.skipped += len(chosen) - done
            continue
        builder, _, columns = _TABLES[table]
        rows = [row for row in map(builder, chosen) if row is not None]
        done = 0
        if rows:
            params = {name: [row[name] for row in rows] for name in columns}
            done = len((await connection.execute(text(_INSERTS[table]), params)).all())
        if done < len(rows):
            logger.warning("%d %s rows already existed; left alone", len(rows) - done, table)
        stats.applied += done
        stats.skipped += len(chosen) - done


def _insert_sql(table: str) -> str:
    _, conflict, columns = _TABLES[table]
    names = ", ".join(columns)
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns.items())
    return (
        f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"ON CONFLICT {conflict} DO NOTHING RETURNING id"
    )


# Built from the constant table above, never from event data.
_INSERTS = {table: _insert_sql(table) for table in _TABLES}
_DELETES = {
    "derivative_reports": (
        "DELETE FROM derivative_reports WHERE chain_event_id = ANY(:ids) RETURNING id"
    ),
    "bridge_transfers": (
        "DELETE FROM bridge_transfers WHERE chain_event_id = ANY(:ids) RETURNING id"
    ),
}


async def transfer_status_changed(
    connection: AsyncConnection, event: StoredEvent, revert: bool, known: Known
) -> bool:
    """Move a bridge transfer from the old status to the new (or back)."""
    args = event.log.args
    if int(args["oldStatus"]) == 0:
        # The creation: the TokensLocked / TokensReleased row (next log) records it.
        return True
    old, new = (
        BRIDGE_STATUSES.get(int(args["oldStatus"])),
        BRIDGE_STATUSES.get(int(args["newStatus"])),
    )
    if old is None or new is None:
        _skip(event, f"unknown status {args['oldStatus']} -> {args['newStatus']}")
        return False
    before, after = (new, old) if revert else (old, new)
    # Settled sets settled_at (forward) or clears it (revert); other statuses leave it.
    result = await connection.execute(
        text(
            "UPDATE bridge_transfers SET status = :after, updated_at = now(), settled_at = "
            "CASE WHEN :new = 'settled' THEN CAST(:t AS timestamptz) ELSE settled_at END "
            "WHERE reference = :ref AND status = :before"
        ),
        {
            "after": after,
            "before": before,
            "new": new,
            "ref": args["ref"],
            "t": None if revert else event.time,
        },
    )
    return bool(getattr(result, "rowcount", 0))

"""Derivative trade reports and Euroclear bridge transfers, one row per event.

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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dpo.db.models.checks import CURRENCY_RE, ISIN_RE
from listener.projections_common import Known, StoredEvent, minor_to_decimal

logger = logging.getLogger(__name__)

ACTIONS = {1: "new", 2: "modify", 3: "cancel"}
# NUMERIC(38, 18) holds less than 10**20.
MONEY_LIMIT = 10**20
BRIDGE_STATUSES = {1: "pending", 2: "instructed", 3: "settled", 4: "failed", 5: "cancelled"}


def _skip(event: StoredEvent, why: str) -> bool:
    logger.warning("%s.%s in tx %s log %d not projected: %s", event.log.contract_name,
                   event.log.event_name, event.log.tx_hash, event.log.log_index, why)
    return False


def _party(args: dict[str, str], name: str) -> str:
    """An LEI as text; a non-text bytes32 as its 64 hex digits (the column holds 64)."""
    return args.get(f"{name}_text") or args[name].removeprefix("0x")


async def trade_reported(connection: AsyncConnection, event: StoredEvent, revert: bool,
                         known: Known) -> bool:
    """A derivative_reports row per TradeReported."""
    if revert:
        result = await connection.execute(
            text("DELETE FROM derivative_reports WHERE chain_event_id = :id"), {"id": event.id}
        )
        return bool(getattr(result, "rowcount", 0))
    args = event.log.args
    uti, currency = args.get("uti_text"), args.get("currency_text", "")
    action = ACTIONS.get(int(args["action"]))
    if uti is None or len(uti) > 52:
        return _skip(event, "the UTI is not text of at most 52 characters")
    if action is None:
        return _skip(event, f"unknown action {args['action']}")
    if not re.match(CURRENCY_RE, currency):
        return _skip(event, f"currency {currency!r} is not an ISO 4217 code")
    notional = minor_to_decimal(args["notional"], currency)
    if notional >= MONEY_LIMIT:
        return _skip(event, "the notional exceeds what the money column holds")
    result = await connection.execute(
        text("INSERT INTO derivative_reports (uti, action, version, product, notional, currency, "
             "counterparty_a, counterparty_b, reported_at, chain_event_id) VALUES (:uti, :action, "
             ":version, :product, :notional, :currency, :a, :b, :t, :id) "
             "ON CONFLICT (uti, action, version) DO NOTHING"),
        {
            "uti": uti, "action": action, "version": int(args["version"]),
            "product": str(args["product"])[:64],
            "notional": notional, "currency": currency,
            "a": _party(args, "counterpartyA"), "b": _party(args, "counterpartyB"),
            "t": event.time, "id": event.id,
        },
    )
    return bool(getattr(result, "rowcount", 0)) or _skip(event, "already reported")


async def bridge_opened(connection: AsyncConnection, event: StoredEvent, revert: bool,
                        known: Known) -> bool:
    """A bridge_transfers row per TokensLocked / TokensReleased, starting pending."""
    if revert:
        result = await connection.execute(
            text("DELETE FROM bridge_transfers WHERE chain_event_id = :id"), {"id": event.id}
        )
        return bool(getattr(result, "rowcount", 0))
    args = event.log.args
    isin, account = args.get("isin_text", ""), args.get("euroclearAccount_text")
    if not re.match(ISIN_RE, isin):
        return _skip(event, f"ISIN {isin!r} is not a valid ISIN")
    if account is None or len(account) > 35:
        return _skip(event, "the Euroclear account is not text of at most 35 characters")
    result = await connection.execute(
        text("INSERT INTO bridge_transfers (direction, isin, amount, holder_address, "
             "euroclear_account, reference, status, tx_hash, chain_event_id) VALUES (:d, :isin, "
             ":amount, :holder, :account, :ref, 'pending', :tx, :id) "
             "ON CONFLICT (reference) DO NOTHING"),
        {
            "d": "lock" if event.log.event_name == "TokensLocked" else "release",
            "isin": isin, "amount": int(args["amount"]), "holder": args["holder"],
            "account": account, "ref": args["ref"], "tx": event.log.tx_hash, "id": event.id,
        },
    )
    return bool(getattr(result, "rowcount", 0)) or _skip(event, "reference already known")


async def transfer_status_changed(connection: AsyncConnection, event: StoredEvent,
                                  revert: bool, known: Known) -> bool:
    """Move a bridge transfer from the old status to the new (or back)."""
    args = event.log.args
    if int(args["oldStatus"]) == 0:
        # The creation: the TokensLocked / TokensReleased row (next log) records it.
        return True
    old, new = BRIDGE_STATUSES.get(int(args["oldStatus"])), BRIDGE_STATUSES.get(
        int(args["newStatus"]))
    if old is None or new is None:
        return _skip(event, f"unknown status {args['oldStatus']} -> {args['newStatus']}")
    before, after = (new, old) if revert else (old, new)
    # Settled sets settled_at (forward) or clears it (revert); other statuses leave it.
    result = await connection.execute(
        text("UPDATE bridge_transfers SET status = :after, updated_at = now(), settled_at = "
             "CASE WHEN :new = 'settled' THEN CAST(:t AS timestamptz) ELSE settled_at END "
             "WHERE reference = :ref AND status = :before"),
        {"after": after, "before": before, "new": new, "ref": args["ref"],
         "t": None if revert else event.time},
    )
    return bool(getattr(result, "rowcount", 0))

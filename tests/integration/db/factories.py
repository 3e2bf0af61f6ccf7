"""Valid rows for the database tests; each test breaks exactly one thing."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dpo.db.models import (
    ChainEvent,
    Investment,
    Investor,
    Issuer,
    Offering,
    Position,
    ReconciliationBreak,
    ReconciliationRun,
)

_counter = itertools.count(1)
HOLDER = "0x" + "ab" * 20
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def hash32() -> str:
    """A random 0x-prefixed 32-byte hex string."""
    return "0x" + secrets.token_hex(32)


def isin() -> str:
    """A well-formed ISIN never used before in this run."""
    return f"XS{next(_counter):09d}0"


def offering(issuer: Issuer | None = None, **overrides: Any) -> Offering:
    """A draft offering with its issuer."""
    values: dict[str, Any] = {
        "issuer": issuer or Issuer(name="Acme Capital AG", country="CH"),
        "isin": isin(),
        "name": "Acme Series A",
        "symbol": "ACME",
        "security_type": "equity",
        "regulation": "reg_d_506c",
        "currency": "USD",
        "unit_price": Decimal("10"),
        "allowed_countries": ["US", "CH"],
    }
    values.update(overrides)
    return Offering(**values)


def investor(**overrides: Any) -> Investor:
    """An investor with pending KYC."""
    values: dict[str, Any] = {"full_name": "Ada Lovelace", "country": "GB"}
    values.update(overrides)
    return Investor(**values)


def investment(**overrides: Any) -> Investment:
    """An order awaiting payment."""
    values: dict[str, Any] = {
        "investor": investor(),
        "offering": offering(),
        "amount": Decimal("1000"),
        "currency": "USD",
        "units": 100,
        "payment_reference": f"PAY-{next(_counter)}",
    }
    values.update(overrides)
    return Investment(**values)


def position(owner: Offering, **overrides: Any) -> Position:
    """An on-chain position of HOLDER in the offering's token."""
    values: dict[str, Any] = {
        "holder_address": HOLDER,
        "offering_id": owner.id,
        "location": "onchain",
        "quantity": 10,
        "frozen_quantity": 0,
    }
    values.update(overrides)
    return Position(**values)


def chain_event(event_id: int, **overrides: Any) -> ChainEvent:
    """A live Transfer log with a fresh block and tx hash."""
    values: dict[str, Any] = {
        "id": event_id,
        "chain_id": 31337,
        "contract_address": CONTRACT,
        "contract_name": "SecurityToken",
        "event_name": "Transfer",
        "block_number": 1,
        "block_hash": hash32(),
        "tx_hash": hash32(),
        "tx_index": 0,
        "log_index": 0,
        "args": {"value": str(2**256 - 1)},
    }
    values.update(overrides)
    return ChainEvent(**values)


def reconciliation_break(run: ReconciliationRun, **overrides: Any) -> ReconciliationBreak:
    """An open quantity mismatch for HOLDER."""
    values: dict[str, Any] = {
        "run": run,
        "isin": "XS0000000010",
        "holder": HOLDER,
        "ledger_qty": 10,
        "chain_qty": 7,
        "difference": 3,
        "kind": "quantity_mismatch",
    }
    values.update(overrides)
    return ReconciliationBreak(**values)


def now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)

"""The sender's reads and writes of chain_intents and chain_transactions.

Each function is one short transaction. The writes of signed transactions (nonces assigned,
replacements, broadcasts, holes filled) are dpo.sender.nonces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from dpo.db.models import ChainIntent, ChainTransaction, Investment, InvestorWallet, Offering
from dpo.db.models.enums import IntentState
from dpo.money import decimal_to_minor
from dpo.sender.policy import Fees
from dpo.sender.verdicts import Order

# Not sent, or sent and not mined: what a dependant waits for, what `finish` may end.
OPEN = (IntentState.PENDING.value, IntentState.IN_FLIGHT.value)


@dataclass(slots=True)
class Attempt:
    """One signed version of an intent's call."""

    id: int
    tx_hash: str
    raw_tx: str
    gas_limit: int
    fees: Fees
    signed_at: datetime
    broadcast_at: datetime | None


@dataclass(slots=True)
class InFlight:
    """An intent whose transaction is signed (and maybe broadcast), with every version."""

    id: int
    kind: str
    nonce: int
    reference: str | None
    call: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def latest(self) -> Attempt:
        """The version signed last (the one with the highest fees)."""
        return self.attempts[-1]


@dataclass(slots=True)
class Ready:
    """A pending intent whose dependency is no longer open, with what its call needs."""

    id: int
    kind: str
    dependency_state: str | None
    reference: str | None
    amount: Decimal | None
    currency: str | None
    units: int | None
    onchain_offering_id: int | None
    token_address: str | None
    wallet: str | None

    def order(self, chain_id: int) -> tuple[Order | None, str]:
        """The order as the chain must record it, or None and why it cannot be built."""
        if self.reference is None or self.amount is None or self.currency is None:
            return None, "the intent has no investment with an on-chain reference"
        if self.onchain_offering_id is None:
            return None, "the offering is not linked to its on-chain offering"
        if self.wallet is None:
            return None, f"the investor has no verified wallet on chain {chain_id}"
        try:
            amount = decimal_to_minor(self.amount, self.currency)
        except ValueError as error:
            return None, str(error)
        return Order(self.onchain_offering_id, self.wallet, amount, int(self.units or 0)), ""


def ours_in_state(state: IntentState, chain_id: int, sender: str, *columns: Any) -> Any:
    """Our intents in `state` on this chain, lowest nonce first: id, kind, nonce, the order's
    reference, then `columns` (the in-flight and the mined reads differ only in those)."""
    return (
        select(
            ChainIntent.id,
            ChainIntent.kind,
            ChainIntent.nonce,
            Investment.onchain_reference,
            *columns,
        )
        .outerjoin(Investment, Investment.id == ChainIntent.investment_id)
        .where(
            ChainIntent.state == state.value,
            ChainIntent.chain_id == chain_id,
            ChainIntent.sender_address == sender,
        )
        .order_by(ChainIntent.nonce)
    )


async def in_flight(
    sessions: async_sessionmaker[AsyncSession], chain_id: int, sender: str
) -> list[InFlight]:
    """Our in-flight intents on this chain, lowest nonce first, with their versions."""
    async with sessions() as session:
        rows = (
            await session.execute(
                ours_in_state(IntentState.IN_FLIGHT, chain_id, sender, ChainIntent.call)
            )
        ).all()
        flights = {
            row[0]: InFlight(int(row[0]), row[1], int(row[2]), row[3], dict(row[4])) for row in rows
        }
        if not flights:
            return []
        attempts = await session.scalars(
            select(ChainTransaction)
            .where(ChainTransaction.intent_id.in_(list(flights)))
            .order_by(ChainTransaction.id)
        )
        for tx in attempts:
            flights[tx.intent_id].attempts.append(
                Attempt(
                    tx.id,
                    tx.tx_hash,
                    tx.raw_tx,
                    tx.gas_limit,
                    Fees(tx.max_fee_per_gas, tx.max_priority_fee_per_gas),
                    tx.signed_at,
                    tx.broadcast_at,
                )
            )
    return [flight for flight in flights.values() if flight.attempts]


async def ready(
    sessions: async_sessionmaker[AsyncSession], chain_id: int, limit: int
) -> list[Ready]:
    """Up to `limit` pending intents, oldest first, whose dependency is no longer open."""
    dependency = aliased(ChainIntent)
    wallet = (
        select(InvestorWallet.address)
        .where(
            InvestorWallet.investor_id == Investment.investor_id,
            InvestorWallet.verified_at.is_not(None),
            InvestorWallet.chain_id == chain_id,
        )
        .order_by(InvestorWallet.verified_at, InvestorWallet.id)
        .limit(1)
        .correlate(Investment)
        .scalar_subquery()
    )
    query = (
        select(
            ChainIntent.id,
            ChainIntent.kind,
            dependency.state,
            Investment.onchain_reference,
            Investment.amount,
            Investment.currency,
            Investment.units,
            Offering.onchain_offering_id,
            Offering.token_address,
            wallet,
        )
        .outerjoin(dependency, dependency.id == ChainIntent.depends_on_id)
        .outerjoin(Investment, Investment.id == ChainIntent.investment_id)
        .outerjoin(Offering, Offering.id == Investment.offering_id)
        .where(
            ChainIntent.state == IntentState.PENDING.value,
            ChainIntent.nonce.is_(None),
            (dependency.id.is_(None)) | (dependency.state.not_in(OPEN)),
        )
        .order_by(ChainIntent.id)
        .limit(limit)
    )
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return [Ready(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]


async def finish(
    sessions: async_sessionmaker[AsyncSession],
    intent_id: int,
    state: str,
    *,
    note: str | None = None,
    tx_hash: str | None = None,
    block_number: int | None = None,
    revert_reason: str | None = None,
    call: dict[str, Any] | None = None,
) -> bool:
    """Move an open intent to a final state; False if it was no longer open."""
    values: dict[str, Any] = {"state": state, "finished_at": func.now(), "updated_at": func.now()}
    if note is not None:
        values["last_error"] = note[:2000]
    if tx_hash is not None:
        values["tx_hash"] = tx_hash
    if block_number is not None:
        values["block_number"] = block_number
    if revert_reason is not None:
        values["revert_reason"] = revert_reason[:2000]
    if call is not None:
        values["call"] = call
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id == intent_id, ChainIntent.state.in_(OPEN))
            .values(**values)
        )
    return bool(getattr(result, "rowcount", 0))


async def back_to_pending(
    sessions: async_sessionmaker[AsyncSession], intent_id: int, note: str
) -> None:
    """An in-flight intent whose nonce someone else used: pending again, without a nonce."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id == intent_id, ChainIntent.state == IntentState.IN_FLIGHT.value)
            .values(
                state=IntentState.PENDING.value,
                nonce=None,
                chain_id=None,
                sender_address=None,
                last_error=note,
                updated_at=func.now(),
            )
        )


async def note(sessions: async_sessionmaker[AsyncSession], intent_id: int, text: str) -> None:
    """Record the latest trouble of an intent that stays open."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainIntent)
            .where(ChainIntent.id == intent_id)
            .values(last_error=text[:2000], updated_at=func.now())
        )

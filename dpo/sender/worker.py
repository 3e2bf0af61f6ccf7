"""One pass of the sender: tend what is in flight, then check, sign and send what is ready.

1. The chain's view: our mined and pending nonce, the fee market.
2. In flight (policy.flight_step): receipts once the nonce is used, a broadcast if a crash came
   between the write and the broadcast, a resend if the node lost it, a replacement if late.
3. New intents: the dependency, the exactly-once chain check (getInvestment / isIssuedRef), a
   gas estimate (a revert is recorded with its reason, nothing sent); then nonces assigned and
   transactions signed and stored in one database transaction, and only then broadcast. So a
   restart finds every signed transaction in flight and broadcasts the same bytes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.sender import metrics, ops, store
from dpo.sender.chain import Chain, ChainStatus, Receipt, Sent
from dpo.sender.policy import (
    FeeCaps,
    Fees,
    Flight,
    Order,
    Outcome,
    Step,
    Verdict,
    after_revert,
    bumped_fees,
    chain_decision,
    dependency_decision,
    flight_step,
    initial_fees,
    receipt_outcome,
)
from dpo.sender.rpc import RpcCallError

logger = logging.getLogger(__name__)

CHECK_CONCURRENCY = 16  # in-flight intents tended at once
FINAL_STATE = {Verdict.DONE: "succeeded", Verdict.CANCEL: "cancelled", Verdict.FAIL: "failed"}


@dataclass(frozen=True, slots=True)
class Config:
    """The sender's knobs (from SENDER_* settings)."""

    max_in_flight: int
    replace_after: float
    resend_after: float
    nonce_taken_after: float
    caps: FeeCaps
    gas_headroom_percent: int


class Worker:
    """The passes of one sender (one account on one chain)."""
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], chain: Chain,
                 account: LocalAccount, chain_id: int, config: Config,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self.chain = chain
        self.contracts = chain.contracts
        self._account, self.address = account, account.address
        self.chain_id = chain_id
        self.config = config
        self.clock = clock
        self._checked: dict[int, float] = {}
        self._missing_since: dict[int, float] = {}
        self._mined: list[tuple[int, str, int]] = []

    def _sign(self, to: str, data: str, gas: int, fees: Fees, nonce: int) -> tuple[str, str]:
        signed = self._account.sign_transaction({
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": HexStr(to),
            "data": HexStr(data),
            "value": 0, "gas": gas, "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.tip})
        return signed.hash.to_0x_hex(), signed.raw_transaction.to_0x_hex()

    async def run_pass(self) -> int:
        """One pass; returns how many intents it moved or sent."""
        status = await self.chain.status()
        flights = await store.in_flight(self.sessions, self.chain_id, self.address)
        carried = {flight.nonce for flight in flights}
        upcoming = max([status.pending_nonce, *(n + 1 for n in carried)])
        metrics.NONCE_GAP.set(max(0, upcoming - status.pending_nonce))
        # Receipts of every version whose nonce the chain used, in batches.
        receipts = await self.chain.receipts([
            attempt.tx_hash for flight in flights if flight.nonce < status.mined_nonce
            for attempt in flight.attempts])
        gate = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def tend(flight: store.InFlight) -> tuple[int, int]:
            async with gate:
                return await self._tend(flight, status, receipts)

        # Concurrently: each flight touches only its own rows; replacements keep their nonce.
        self._mined = []
        results = await asyncio.gather(*(tend(flight) for flight in flights))
        await store.succeeded_many(self.sessions, self._mined)  # the common case, in one go
        moved = sum(done for done, _ in results)
        metrics.STUCK.set(sum(stuck for _, stuck in results))
        room = self.config.max_in_flight - (len(flights) - moved)
        if room > 0:
            moved += await self._send_new(status, room)
        for state, count in (await ops.counts(self.sessions)).items():
            metrics.INTENTS.labels(state=state).set(count)
        return moved

    # ---- in flight ----

    async def _tend(self, flight: store.InFlight, status: ChainStatus,
                    receipts: dict[str, Receipt | None]) -> tuple[int, int]:
        now = self.clock()
        latest = flight.latest
        step = flight_step(
            Flight(flight.nonce, latest.signed_at.timestamp(),
                   latest.broadcast_at.timestamp() if latest.broadcast_at else None,
                   self._checked.get(flight.id)),
            mined_nonce=status.mined_nonce, now=now, replace_after=self.config.replace_after,
            resend_after=self.config.resend_after)
        if step is Step.RECEIPT:
            return await self._settle(flight, now, [receipts.get(a.tx_hash)
                                                    for a in flight.attempts]), 0
        if step is Step.BROADCAST:
            await self._broadcast(flight.id, latest.tx_hash, latest.raw_tx, first=True)
            return 0, 0
        if step is Step.REPLACE:
            fees = bumped_fees(latest.fees, status.base_fee, status.tip, self.config.caps)
            if fees is not None:
                await self._replace(flight, fees)
                return 0, 0
            step = Step.CHECK_POOL
        if step is Step.CHECK_POOL:
            self._checked[flight.id] = now
            if not await self.chain.known(latest.tx_hash):
                metrics.RESENDS.inc()
                logger.info("intent %s: nonce %s no longer known to the node; resending",
                            flight.id, flight.nonce)
                await self._broadcast(flight.id, latest.tx_hash, latest.raw_tx, first=False)
            return 0, int(now - latest.signed_at.timestamp() >= self.config.replace_after)
        return 0, 0

    async def _replace(self, flight: store.InFlight, fees: Fees) -> None:
        call = flight.call
        tx_hash, raw = self._sign(call["to"], call["data"], flight.latest.gas_limit, fees,
                                  flight.nonce)
        signed = store.Signed(flight.id, flight.nonce, tx_hash, raw, flight.latest.gas_limit,
                              fees, call)
        await store.add_version(self.sessions, flight, signed)
        metrics.REPLACEMENTS.inc()
        logger.info("intent %s: nonce %s not mined in %ss; replaced with max fee %s, tip %s",
                    flight.id, flight.nonce, self.config.replace_after, fees.max_fee, fees.tip)
        await self._broadcast(flight.id, tx_hash, raw, first=False)

    async def _broadcast(self, intent_id: int, tx_hash: str, raw: str, *, first: bool) -> bool:
        outcome, message = await self.chain.broadcast(raw)
        if outcome is Sent.REFUSED:
            logger.warning("intent %s: the node refused transaction %s: %s", intent_id,
                           tx_hash, message)
            await store.note(self.sessions, intent_id, f"broadcast refused: {message}")
        await store.broadcast_done(self.sessions, [(intent_id, tx_hash)])
        return outcome is not Sent.REFUSED

    async def _settle(self, flight: store.InFlight, now: float,
                      receipts: list[Receipt | None]) -> int:
        statuses = [r.status if r is not None else None for r in receipts]
        missing_for = 0.0
        if all(status is None for status in statuses):
            missing_for = now - self._missing_since.setdefault(flight.id, now)
        outcome = receipt_outcome(statuses, missing_for=missing_for,
                                  nonce_taken_after=self.config.nonce_taken_after)
        if outcome is Outcome.NOT_YET:
            return 0
        self._missing_since.pop(flight.id, None)
        self._checked.pop(flight.id, None)
        if outcome is Outcome.NONCE_TAKEN:
            logger.warning("intent %s: nonce %s was used by a transaction not ours; pending "
                           "again (the chain check decides before it is sent)", flight.id,
                           flight.nonce)
            await store.back_to_pending(self.sessions, flight.id,
                                        f"nonce {flight.nonce} used by another transaction")
            return 1
        mined = next(r for r in receipts if r is not None)
        if outcome is Outcome.SUCCEEDED:
            mined = next(r for r in receipts if r is not None and r.status == 1)
            self._mined.append((flight.id, mined.tx_hash, mined.block_number))
            metrics.FINISHED.labels(kind=flight.kind, state="succeeded").inc()
            return 1
        recorded, issued = await self.chain.facts(flight.kind, flight.reference,
                                                  flight.call.get("to"))
        decision = after_revert(flight.kind, recorded, issued)
        if decision.verdict is Verdict.DONE:
            await store.finish(self.sessions, flight.id, "succeeded", note=decision.note,
                               tx_hash=None, block_number=mined.block_number)
            metrics.FINISHED.labels(kind=flight.kind, state="succeeded").inc()
            return 1
        reason = await self.chain.replay_reason(flight.call["to"], flight.call["data"],
                                                mined.block_number)
        await self._reverted(flight.id, flight.kind, reason, tx_hash=mined.tx_hash,
                             block_number=mined.block_number)
        return 1

    async def _reverted(self, intent_id: int, kind: str, reason: str, *,
                        tx_hash: str | None = None, block_number: int | None = None,
                        call: dict[str, Any] | None = None) -> None:
        logger.warning("intent %s (%s) reverted: %s; not retried (dpo sender retry %s once "
                       "the cause is fixed)", intent_id, kind, reason, intent_id)
        await store.finish(self.sessions, intent_id, "reverted", revert_reason=reason,
                           tx_hash=tx_hash, block_number=block_number, call=call)
        metrics.REVERTS.labels(kind=kind).inc()
        metrics.FINISHED.labels(kind=kind, state="reverted").inc()

    # ---- new intents ----

    async def _send_new(self, status: ChainStatus, room: int) -> int:
        readies = await store.ready(self.sessions, self.chain_id, room)
        if not readies:
            return 0
        prepared = await self._prepare(readies)
        finished = len(readies) - len(prepared)
        if not prepared:
            return finished
        fees = initial_fees(status.base_fee, status.tip, self.config.caps)
        by_id = {intent_id: (call, gas) for intent_id, call, gas in prepared}

        def sign(intent_id: int, nonce: int) -> store.Signed:
            call, gas = by_id[intent_id]
            tx_hash, raw = self._sign(call["to"], call["data"], gas, fees, nonce)
            return store.Signed(intent_id, nonce, tx_hash, raw, gas, fees, call)

        signed = await store.sign_and_record(
            self.sessions, chain_id=self.chain_id, sender=self.address,
            intent_ids=sorted(by_id), chain_pending=status.pending_nonce, sign=sign)
        done: list[tuple[int, str]] = []
        for item in signed:  # nonce order: a node may refuse a nonce beyond a gap
            outcome, message = await self.chain.broadcast(item.raw_tx)
            if outcome is Sent.REFUSED:
                logger.warning("intent %s: the node refused transaction %s: %s",
                               item.intent_id, item.tx_hash, message)
                await store.note(self.sessions, item.intent_id, f"broadcast refused: {message}")
            metrics.SENDS.labels(kind=str(item.call.get("kind", ""))).inc()
            done.append((item.intent_id, item.tx_hash))
        await store.broadcast_done(self.sessions, done)
        return finished + len(signed)

    async def _prepare(self, readies: list[store.Ready]) -> list[tuple[int, dict[str, Any], int]]:
        """Decide the ready intents: those to send, with their call and gas limit; the rest
        are finished here (or wait for their dependency)."""
        checked: list[tuple[store.Ready, Order, str]] = []
        for ready in readies:
            decision = dependency_decision(ready.kind, ready.dependency_state)
            if decision.verdict is Verdict.WAIT:
                continue
            if decision.verdict is not Verdict.SEND:
                await self._finish(ready, decision.verdict, decision.note)
                continue
            expected, problem = ready.order(self.chain_id)
            if expected is None or ready.reference is None:
                await self._finish(ready, Verdict.FAIL, problem)
                continue
            checked.append((ready, expected, ready.reference))
        # The exactly-once check, for all of them in batches.
        orders = await self.chain.orders([reference for _, _, reference in checked])
        issued = await self.chain.issued([(reference, ready.token_address)
                                          for ready, _, reference in checked
                                          if ready.kind == "issue"])
        to_send: list[tuple[store.Ready, dict[str, Any]]] = []
        for ready, expected, reference in checked:
            decision = chain_decision(ready.kind, expected, orders[reference],
                                      issued.get(reference, False))
            if decision.verdict is not Verdict.SEND:
                await self._finish(ready, decision.verdict, decision.note)
                continue
            call = self.contracts.call_for(ready.kind, expected, reference, ready.token_address)
            to_send.append((ready, {**call.as_record(), "data": call.data, "kind": ready.kind}))
        gases = await self.chain.estimates([(record["to"], record["data"])
                                            for _, record in to_send])
        out: list[tuple[int, dict[str, Any], int]] = []
        for (ready, record), gas in zip(to_send, gases, strict=True):
            if isinstance(gas, RpcCallError):  # it would revert: record why, send nothing
                reason = self.contracts.reason(gas.data, gas.message)
                await self._reverted(ready.id, ready.kind, reason, call=record)
                continue
            out.append((ready.id, record, gas * (100 + self.config.gas_headroom_percent) // 100))
        return out

    async def _finish(self, ready: store.Ready, verdict: Verdict, note: str) -> None:
        state = FINAL_STATE[verdict]
        if verdict is Verdict.FAIL:
            logger.warning("intent %s (%s) failed: %s", ready.id, ready.kind, note)
        await store.finish(self.sessions, ready.id, state, note=note)
        metrics.FINISHED.labels(kind=ready.kind, state=state).inc()

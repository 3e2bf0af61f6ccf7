"""One pass of the sender: watch what is mined, tend what is in flight, then check, sign and
send what is ready.

1. The chain's view: our mined and pending nonce, the fee market, the head.
2. Mined (confirm.py): final once confirmed; a reorg that takes a block sends its intents back
   to the chain check, and the nonces they free are the first handed out again.
3. In flight (tend.py, policy.flight_step): receipts once the nonce is used, a broadcast if a
   crash came between the write and the broadcast, a resend if the node lost it, a
   replacement if late. A successful receipt makes the intent mined, not final.
4. New intents: the dependency, the exactly-once chain check (getInvestment / isIssuedRef), a
   gas estimate (a revert is recorded with its reason, nothing sent); then nonces assigned and
   transactions signed and stored in one database transaction, and only then broadcast. So a
   restart finds every signed transaction in flight and broadcasts the same bytes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.sender import metrics, mined, nonces, ops, store
from dpo.sender.chain import Chain, ChainStatus, Receipt, Sent
from dpo.sender.confirm import Confirmer
from dpo.sender.policy import Fees, initial_fees
from dpo.sender.rpc import RpcCallError
from dpo.sender.tend import Config, Tender
from dpo.sender.verdicts import Order, Verdict, chain_decision, dependency_decision

logger = logging.getLogger(__name__)

CHECK_CONCURRENCY = 16  # in-flight intents tended at once
FILL_GAS = 21_000  # a plain transfer
FINAL_STATE = {Verdict.DONE: "succeeded", Verdict.CANCEL: "cancelled", Verdict.FAIL: "failed"}


class Worker:
    """The passes of one sender (one account on one chain)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        chain: Chain,
        account: LocalAccount,
        chain_id: int,
        config: Config,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.contracts = chain.contracts
        self._account, self.address = account, account.address
        self.chain_id = chain_id
        self.config = config
        self.tender = Tender(
            sessions=sessions, chain=chain, config=config, clock=clock, sign=self._sign
        )
        self.confirmer = Confirmer(
            sessions=sessions,
            chain=chain,
            chain_id=chain_id,
            confirmations=config.confirmations,
            missing_after=config.nonce_taken_after,
            clock=clock,
        )

    def _sign(self, to: str, data: str, gas: int, fees: Fees, nonce: int) -> tuple[str, str]:
        signed = self._account.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": nonce,
                "to": HexStr(to),
                "data": HexStr(data),
                "value": 0,
                "gas": gas,
                "maxFeePerGas": fees.max_fee,
                "maxPriorityFeePerGas": fees.tip,
            }
        )
        return signed.hash.to_0x_hex(), signed.raw_transaction.to_0x_hex()

    async def run_pass(self) -> int:
        """One pass; returns how many intents it moved or sent."""
        status = await self.chain.status()
        moved = await self.confirmer.run(status)  # first: a reorg frees nonces for this pass
        flights = await store.in_flight(self.sessions, self.chain_id, self.address)
        carried = {flight.nonce for flight in flights}
        upcoming = max([status.pending_nonce, *(n + 1 for n in carried)])
        metrics.NONCE_GAP.set(max(0, upcoming - status.pending_nonce))
        # Receipts of every version whose nonce the chain used, in batches.
        receipts: dict[str, Receipt | None] = await self.chain.receipts(
            [
                attempt.tx_hash
                for flight in flights
                if flight.nonce < status.mined_nonce
                for attempt in flight.attempts
            ]
        )
        gate = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def tend(flight: store.InFlight) -> tuple[int, int]:
            async with gate:
                return await self.tender.tend(flight, status, receipts)

        # Concurrently: each flight touches only its own rows; replacements keep their nonce.
        self.tender.mined = []
        results = await asyncio.gather(*(tend(flight) for flight in flights))
        await mined.mark_mined(self.sessions, self.tender.mined)  # the common case, in one go
        tended = sum(done for done, _ in results)
        metrics.STUCK.set(sum(stuck for _, stuck in results))
        moved += tended
        room = self.config.max_in_flight - (len(flights) - tended)
        if room > 0:
            moved += await self._send_new(status, room)
        moved += await self._fill_holes(status)
        for state, count in (await ops.counts(self.sessions)).items():
            metrics.INTENTS.labels(state=state).set(count)
        return moved

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

        def sign(intent_id: int, nonce: int) -> nonces.Signed:
            call, gas = by_id[intent_id]
            tx_hash, raw = self._sign(call["to"], call["data"], gas, fees, nonce)
            return nonces.Signed(intent_id, nonce, tx_hash, raw, gas, fees, call)

        signed = await nonces.sign_and_record(
            self.sessions,
            chain_id=self.chain_id,
            sender=self.address,
            intent_ids=sorted(by_id),
            chain_mined=status.mined_nonce,
            chain_pending=status.pending_nonce,
            sign=sign,
        )
        done: list[tuple[int, str]] = []
        for item in signed:  # nonce order: a node may refuse a nonce beyond a gap
            outcome, message = await self.chain.broadcast(item.raw_tx)
            if outcome is Sent.REFUSED:
                logger.warning(
                    "intent %s: the node refused transaction %s: %s",
                    item.intent_id,
                    item.tx_hash,
                    message,
                )
                await store.note(self.sessions, item.intent_id, f"broadcast refused: {message}")
            metrics.SENDS.labels(kind=str(item.call.get("kind", ""))).inc()
            done.append((item.intent_id, item.tx_hash))
        await nonces.broadcast_done(self.sessions, done)
        return finished + len(signed)

    async def _fill_holes(self, status: ChainStatus) -> int:
        """Carry the nonces a reorg freed that nothing else took (policy.holes_behind)."""
        fees = initial_fees(status.base_fee, status.tip, self.config.caps)
        call = {"to": self.address, "data": "0x", "kind": "fill", "function": "fill", "args": {}}

        def sign(nonce: int) -> nonces.Signed:
            tx_hash, raw = self._sign(self.address, "0x", FILL_GAS, fees, nonce)
            return nonces.Signed(0, nonce, tx_hash, raw, FILL_GAS, fees, call)

        fills = await nonces.fill_holes(
            self.sessions,
            chain_id=self.chain_id,
            sender=self.address,
            chain_mined=status.mined_nonce,
            sign=sign,
        )
        for item in fills:
            logger.warning(
                "nonce %s freed by a reorg and not taken again: filled by intent %s "
                "(a no-op transfer to ourselves)",
                item.nonce,
                item.intent_id,
            )
            await self.tender.broadcast(item.intent_id, item.tx_hash, item.raw_tx)
            metrics.SENDS.labels(kind="fill").inc()
        return len(fills)

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
        issued = await self.chain.issued(
            [
                (reference, ready.token_address)
                for ready, _, reference in checked
                if ready.kind == "issue"
            ]
        )
        to_send: list[tuple[store.Ready, dict[str, Any]]] = []
        for ready, expected, reference in checked:
            decision = chain_decision(
                ready.kind,
                expected,
                orders[reference],
                issued.get(reference, False),
                ready.dependency_state,
            )
            if decision.verdict is Verdict.WAIT:
                continue
            if decision.verdict is not Verdict.SEND:
                await self._finish(ready, decision.verdict, decision.note)
                continue
            call = self.contracts.call_for(ready.kind, expected, reference, ready.token_address)
            to_send.append((ready, {**call.as_record(), "data": call.data, "kind": ready.kind}))
        gases = await self.chain.estimates(
            [(record["to"], record["data"]) for _, record in to_send]
        )
        out: list[tuple[int, dict[str, Any], int]] = []
        for (ready, record), gas in zip(to_send, gases, strict=True):
            if isinstance(gas, RpcCallError):  # it would revert: record why, send nothing
                reason = self.contracts.reason(gas.data, gas.message)
                await self.tender.reverted(ready.id, ready.kind, reason, call=record)
                continue
            out.append((ready.id, record, gas * (100 + self.config.gas_headroom_percent) // 100))
        return out

    async def _finish(self, ready: store.Ready, verdict: Verdict, note: str) -> None:
        state = FINAL_STATE[verdict]
        if verdict is Verdict.FAIL:
            logger.warning("intent %s (%s) failed: %s", ready.id, ready.kind, note)
        await store.finish(self.sessions, ready.id, state, note=note)
        metrics.FINISHED.labels(kind=ready.kind, state=state).inc()

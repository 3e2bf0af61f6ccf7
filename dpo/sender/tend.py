"""In flight: receipts once the nonce is used, a broadcast after a crash, a resend when the
node lost it, a replacement when late (policy.flight_step decides each step)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.sender import metrics, nonces, store
from dpo.sender.chain import Chain, ChainStatus, Receipt, Sent
from dpo.sender.policy import (
    FeeCaps,
    Fees,
    Flight,
    Outcome,
    Step,
    bumped_fees,
    flight_step,
    receipt_outcome,
)
from dpo.sender.verdicts import Verdict, after_revert

logger = logging.getLogger(__name__)

# (to, data, gas, fees, nonce) → (tx hash, raw signed transaction)
Signer = Callable[[str, str, int, Fees, int], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Config:
    """The sender's knobs (from SENDER_* settings)."""

    max_in_flight: int
    replace_after: float
    resend_after: float
    nonce_taken_after: float
    caps: FeeCaps
    gas_headroom_percent: int
    confirmations: int = 12


class Tender:
    """Tends our in-flight intents, pass after pass (it remembers when it last looked)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        chain: Chain,
        config: Config,
        clock: Callable[[], float],
        sign: Signer,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.config = config
        self.clock = clock
        self.sign = sign
        self._checked: dict[int, float] = {}
        self._missing_since: dict[int, float] = {}
        # Successful receipts found this pass: (intent id, tx hash, block number, block hash).
        self.mined: list[tuple[int, str, int, str]] = []

    async def tend(
        self, flight: store.InFlight, status: ChainStatus, receipts: dict[str, Receipt | None]
    ) -> tuple[int, int]:
        """One step for one in-flight intent: (intents moved, stuck at the fee caps)."""
        now = self.clock()
        latest = flight.latest
        step = flight_step(
            Flight(
                flight.nonce,
                latest.signed_at.timestamp(),
                latest.broadcast_at.timestamp() if latest.broadcast_at else None,
                self._checked.get(flight.id),
            ),
            mined_nonce=status.mined_nonce,
            now=now,
            replace_after=self.config.replace_after,
            resend_after=self.config.resend_after,
        )
        if step is Step.RECEIPT:
            return await self._settle(
                flight, now, [receipts.get(a.tx_hash) for a in flight.attempts]
            ), 0
        if step is Step.BROADCAST:
            await self.broadcast(flight.id, latest.tx_hash, latest.raw_tx)
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
                logger.info(
                    "intent %s: nonce %s no longer known to the node; resending",
                    flight.id,
                    flight.nonce,
                )
                await self.broadcast(flight.id, latest.tx_hash, latest.raw_tx)
            return 0, int(now - latest.signed_at.timestamp() >= self.config.replace_after)
        return 0, 0

    async def _replace(self, flight: store.InFlight, fees: Fees) -> None:
        call = flight.call
        tx_hash, raw = self.sign(
            call["to"], call["data"], flight.latest.gas_limit, fees, flight.nonce
        )
        signed = nonces.Signed(
            flight.id, flight.nonce, tx_hash, raw, flight.latest.gas_limit, fees, call
        )
        await nonces.add_version(self.sessions, flight, signed)
        metrics.REPLACEMENTS.inc()
        logger.info(
            "intent %s: nonce %s not mined in %ss; replaced with max fee %s, tip %s",
            flight.id,
            flight.nonce,
            self.config.replace_after,
            fees.max_fee,
            fees.tip,
        )
        await self.broadcast(flight.id, tx_hash, raw)

    async def broadcast(self, intent_id: int, tx_hash: str, raw: str) -> bool:
        """Broadcast one signed transaction and record it; False if the node refused it."""
        outcome, message = await self.chain.broadcast(raw)
        if outcome is Sent.REFUSED:
            logger.warning(
                "intent %s: the node refused transaction %s: %s", intent_id, tx_hash, message
            )
            await store.note(self.sessions, intent_id, f"broadcast refused: {message}")
        await nonces.broadcast_done(self.sessions, [(intent_id, tx_hash)])
        return outcome is not Sent.REFUSED

    async def _settle(
        self, flight: store.InFlight, now: float, receipts: list[Receipt | None]
    ) -> int:
        statuses = [r.status if r is not None else None for r in receipts]
        missing_for = 0.0
        if all(status is None for status in statuses):
            missing_for = now - self._missing_since.setdefault(flight.id, now)
        outcome = receipt_outcome(
            statuses, missing_for=missing_for, nonce_taken_after=self.config.nonce_taken_after
        )
        if outcome is Outcome.NOT_YET:
            return 0
        self._missing_since.pop(flight.id, None)
        self._checked.pop(flight.id, None)
        if outcome is Outcome.NONCE_TAKEN:
            logger.warning(
                "intent %s: nonce %s was used by a transaction not ours; pending "
                "again (the chain check decides before it is sent)",
                flight.id,
                flight.nonce,
            )
            await store.back_to_pending(
                self.sessions, flight.id, f"nonce {flight.nonce} used by another transaction"
            )
            return 1
        mined = next(r for r in receipts if r is not None)
        if outcome is Outcome.SUCCEEDED:  # mined, not final: confirmations come next
            mined = next(r for r in receipts if r is not None and r.status == 1)
            self.mined.append((flight.id, mined.tx_hash, mined.block_number, mined.block_hash))
            return 1
        recorded, issued = await self.chain.facts(
            flight.kind, flight.reference, flight.call.get("to")
        )
        decision = after_revert(flight.kind, recorded, issued)
        if decision.verdict is Verdict.DONE:
            await store.finish(
                self.sessions,
                flight.id,
                "succeeded",
                note=decision.note,
                tx_hash=None,
                block_number=mined.block_number,
            )
            metrics.FINISHED.labels(kind=flight.kind, state="succeeded").inc()
            return 1
        reason = await self.chain.replay_reason(
            flight.call["to"], flight.call["data"], mined.block_number
        )
        await self.reverted(
            flight.id, flight.kind, reason, tx_hash=mined.tx_hash, block_number=mined.block_number
        )
        return 1

    async def reverted(
        self,
        intent_id: int,
        kind: str,
        reason: str,
        *,
        tx_hash: str | None = None,
        block_number: int | None = None,
        call: dict[str, Any] | None = None,
    ) -> None:
        """Record a revert (at the estimate or on chain) with its reason: final, for ops."""
        logger.warning(
            "intent %s (%s) reverted: %s; not retried (dpo sender retry %s once "
            "the cause is fixed)",
            intent_id,
            kind,
            reason,
            intent_id,
        )
        await store.finish(
            self.sessions,
            intent_id,
            "reverted",
            revert_reason=reason,
            tx_hash=tx_hash,
            block_number=block_number,
            call=call,
        )
        metrics.REVERTS.labels(kind=kind).inc()
        metrics.FINISHED.labels(kind=kind, state="reverted").inc()

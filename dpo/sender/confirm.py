"""Mined intents: final once confirmed, followed when a reorg moves them, back to the chain
check when a reorg takes them (policy.mined_step decides each one).

Each pass reads, in batches, the receipts of every version of every mined intent, the
chain's block hash at each receipt's height, and the listener's live events for their
references. Nothing is final on a receipt alone: that is what lets a reorg that takes the
block of an `issue` end in the issue being sent again, not in an order never issued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.sender import metrics
from dpo.sender import mined as store
from dpo.sender.chain import Chain, ChainStatus
from dpo.sender.policy import Inclusion, Mined, MinedView, mined_step

logger = logging.getLogger(__name__)


class Confirmer:
    """Watches our mined intents until they are final (it remembers missing receipts)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        chain: Chain,
        chain_id: int,
        confirmations: int,
        missing_after: float,
        clock: Callable[[], float],
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.chain_id = chain_id
        self.confirmations = confirmations
        self.missing_after = missing_after
        self.clock = clock
        self._missing_since: dict[int, float] = {}

    async def run(self, status: ChainStatus) -> int:
        """One look at every mined intent; returns how many it finished, moved or sent back."""
        rows = await store.mined(self.sessions, self.chain_id, self.chain.address)
        if not rows:
            self._missing_since.clear()
            return 0
        receipts = await self.chain.receipts([v for row in rows for v in row.versions])
        hashes = await self.chain.block_hashes(
            [row.block_number for row in rows if row.block_number <= status.head]
        )
        listener = await store.listener_blocks(
            self.sessions,
            self.chain_id,
            [(row.kind, row.reference) for row in rows if row.reference],
        )
        now = self.clock()
        final: list[store.MinedIntent] = []
        changed = 0
        for row in rows:
            found = [receipts.get(version) for version in row.versions]
            ok = next((r for r in found if r is not None and r.status == 1), None)
            missing_for = 0.0
            if ok is None:
                missing_for = now - self._missing_since.setdefault(row.id, now)
            else:
                self._missing_since.pop(row.id, None)
            view = MinedView(
                recorded=Inclusion(row.block_number, row.block_hash),
                receipt=Inclusion(ok.block_number, ok.block_hash) if ok else None,
                reverted=any(r is not None and r.status == 0 for r in found),
                canonical_hash=hashes.get(row.block_number),
                nonce_used=status.mined_nonce > row.nonce,
                listener_block=listener.get((row.kind, row.reference or "")),
            )
            step = mined_step(
                view,
                head=status.head,
                confirmations=self.confirmations,
                missing_for=missing_for,
                missing_after=self.missing_after,
            )
            if step is Mined.FINAL:
                final.append(row)
            elif step is Mined.MOVED and ok is not None:
                logger.info(
                    "intent %s: a reorg moved transaction %s from block %s to %s; "
                    "confirmations count again",
                    row.id,
                    ok.tx_hash,
                    row.block_number,
                    ok.block_number,
                )
                metrics.REORGED.labels(outcome="moved").inc()
                await store.moved(self.sessions, row.id, ok.tx_hash, ok.block_number, ok.block_hash)
                changed += 1
            elif step is Mined.RECHECK:
                self._missing_since.pop(row.id, None)
                logger.warning(
                    "intent %s (%s): a reorg took block %s with its transaction; "
                    "checked on chain again and sent again if the chain lacks it",
                    row.id,
                    row.kind,
                    row.block_number,
                )
                metrics.REORGED.labels(outcome="dropped").inc()
                await store.recheck(
                    self.sessions,
                    row.id,
                    f"block {row.block_number} taken by a reorg (nonce "
                    f"{row.nonce} released); checked on chain again",
                )
                changed += 1
        await store.confirm(self.sessions, [row.id for row in final])
        for row in final:
            metrics.FINISHED.labels(kind=row.kind, state="succeeded").inc()
        return changed + len(final)

"""An in-memory fake of the follower's Store port (listener.ports): what PgStore keeps.

`FakeStore` keeps live events by their key, a gap-free feed with removal items, the reorg
window's headers, the checkpoint and the halt, with PgStore's refusals (a batch that does not
extend the checkpoint, a gap), and announces feed ids after each "commit". It does not know
the follower: the follower's loop runs against it unchanged
(tests/unit/listener/test_follower_loop.py, with fake_rpc.FakeRpc).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from listener.decode import DecodedLog
from listener.leader import LockHolder
from listener.store_rows import PreparedBatch
from listener.store_types import (
    Batch,
    BlockHeader,
    IngestResult,
    ReorgDetectedError,
    RevertResult,
    StoreError,
)
from tests.unit.listener.fake_rpc import Key


@dataclass(frozen=True)
class FeedItem:
    """One feed row: an event, or the removal item of an earlier one (`removes`)."""

    id: int
    key: Key
    block_number: int
    removes: int | None = None


class FakeStore:
    """An in-memory store of one chain (listener.ports.Store), announcing after each commit.

    `fail_next(error, after_commit=...)` makes the next write raise `error`, before anything
    changed or after its changes were kept (a connection lost while the COMMIT succeeded).
    """

    def __init__(self) -> None:
        self.point: tuple[int, str] | None = None
        self.headers: dict[int, BlockHeader] = {}
        self.live: dict[Key, tuple[int, DecodedLog]] = {}
        self.feed: list[FeedItem] = []
        self.announced: list[tuple[int, int, int]] = []
        self.statuses: list[tuple[int, str]] = []
        self.halted: str | None = None
        self.writes = 0
        # The `seen_at` of every ingest (None: not the tip's batch).
        self.seen: list[float | None] = []
        # The lock holder each ingest was asked to require (listener.leader's fence).
        self.holders: list[LockHolder | None] = []
        self._faults: list[tuple[BaseException, bool]] = []

    def fail_next(self, error: BaseException, *, after_commit: bool = False) -> None:
        """Make the next write raise `error` (queued: one fault per write)."""
        self._faults.append((error, after_commit))

    async def _fault(self, after_commit: bool) -> None:
        await asyncio.sleep(0)  # a real statement suspends: other tasks run meanwhile
        if self._faults and self._faults[0][1] == after_commit:
            raise self._faults.pop(0)[0]

    def _reserve(self, count: int) -> list[int]:
        first = len(self.feed) + 1
        return list(range(first, first + count))

    def _announce(self, chain_id: int, ids: list[int]) -> None:
        if ids:
            self.announced.append((chain_id, ids[0], ids[-1]))

    # The port.

    async def checkpoint(self, chain_id: int) -> tuple[int, str] | None:
        await asyncio.sleep(0)
        return self.point

    async def recent_blocks(self, chain_id: int, limit: int) -> list[BlockHeader]:
        return [self.headers[n] for n in sorted(self.headers, reverse=True)[:limit]]

    async def event_blocks(self, chain_id: int, below: int) -> list[tuple[int, str]]:
        blocks = {
            (log.block_number, log.block_hash)
            for _, log in self.live.values()
            if log.block_number < below
        }
        return sorted(blocks, reverse=True)[:256]

    async def ingest(
        self,
        batch: Batch,
        rows: PreparedBatch,
        *,
        reorg_window: int,
        seen_at: float | None = None,
        holder: LockHolder | None = None,
    ) -> IngestResult:
        self.writes += 1
        self.seen.append(seen_at)
        self.holders.append(holder)
        await self._fault(after_commit=False)
        last = rows.headers[batch.to_block]
        if self.point is not None:
            number, block_hash = self.point
            if number >= batch.to_block:
                known = (
                    block_hash
                    if number == batch.to_block
                    else (
                        self.headers[batch.to_block].hash
                        if batch.to_block in self.headers
                        else None
                    )
                )
                if known is not None and known != last.hash:
                    raise ReorgDetectedError(f"block {batch.to_block} was processed as {known}")
                return IngestResult(0, None, None, len(batch.logs))
            if batch.from_block > number + 1:
                raise StoreError(f"gap: checkpoint at {number}, batch at {batch.from_block}")
            first = rows.headers.get(number + 1)
            if first is not None and first.parent_hash != block_hash:
                raise ReorgDetectedError(f"block {number + 1} does not follow the checkpoint")
        fresh = [i for i, key in enumerate(rows.keys) if key not in self.live]
        ids = self._reserve(len(fresh))
        for seq, i in zip(ids, fresh, strict=True):
            log = rows.logs[i]
            self.live[rows.keys[i]] = (seq, log)
            self.feed.append(FeedItem(seq, rows.keys[i], log.block_number))
        oldest = batch.to_block - reorg_window
        self.headers = {n: h for n, h in self.headers.items() if n > oldest}
        self.headers.update({b.number: b for b in batch.blocks if b.number > oldest})
        self.point = (last.number, last.hash)
        await self._fault(after_commit=True)
        self._announce(batch.chain_id, ids)
        return IngestResult(
            len(fresh),
            ids[0] if ids else None,
            ids[-1] if ids else None,
            len(batch.logs) - len(fresh),
        )

    async def revert(self, chain_id: int, ancestor_number: int, ancestor_hash: str) -> RevertResult:
        self.writes += 1
        await self._fault(after_commit=False)
        if self.point is None or self.point[0] <= ancestor_number:
            return RevertResult(0, None, None)
        removed = sorted(
            (
                (log.block_number, log.log_index, key, seq)
                for key, (seq, log) in self.live.items()
                if log.block_number > ancestor_number
            ),
            reverse=True,
        )
        ids = self._reserve(len(removed))
        for new, (number, _, key, seq) in zip(ids, removed, strict=True):
            del self.live[key]
            self.feed.append(FeedItem(new, key, number, removes=seq))
        self.headers = {n: h for n, h in self.headers.items() if n <= ancestor_number}
        self.point = (ancestor_number, ancestor_hash)
        await self._fault(after_commit=True)
        self._announce(chain_id, ids)
        return RevertResult(len(removed), ids[0] if ids else None, ids[-1] if ids else None)

    async def set_halt(self, chain_id: int, reason: str | None) -> bool:
        if self.point is None or self.halted == reason:
            return False
        self.halted = reason
        self.statuses.append((chain_id, "live" if reason is None else "halted"))
        return True

"""A store of the listener's Store port (listener.ports) that notes every committed batch.

The port's `ingest` signature stands here once: a test's store puts `Recording` before the
store it wraps (`class RecordingStore(Recording, PgStore)`, or over the in-memory FakeStore)
and, where it needs more than the count of each batch's logs, overrides `committed`.
"""

from __future__ import annotations

from typing import Any, cast

from listener.leader import LockHolder
from listener.ports import Store
from listener.store_rows import PreparedBatch
from listener.store_types import Batch, IngestResult


class Recording:
    """Records the logs of each batch the store under it committed, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    async def ingest(
        self,
        batch: Batch,
        rows: PreparedBatch,
        *,
        reorg_window: int,
        seen_at: float | None = None,
        holder: LockHolder | None = None,
    ) -> IngestResult:
        """The store's ingest; once it returned, the batch is noted and `committed` runs."""
        store = cast(Store, super())
        result = await store.ingest(
            batch, rows, reorg_window=reorg_window, seen_at=seen_at, holder=holder
        )
        self.batches.append(len(batch.logs))
        await self.committed(batch, result)
        return result

    async def committed(self, batch: Batch, result: IngestResult) -> None:
        """Runs after each committed batch; nothing more by default."""

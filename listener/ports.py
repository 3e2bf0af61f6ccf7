"""The follower's two ports: the chain (`Rpc`, listener.rpc.RpcClient) and its `Store`.

The follower (listener.follower) holds the decisions and the loop; everything it asks of the
outside goes through these, so the loop runs unchanged against in-memory fakes of both
(tests/unit/listener/fake_rpc.py, fake_store.py) as it does against a node, PostgreSQL and Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from listener.leader import LockHolder
from listener.store_rows import PreparedBatch
from listener.store_types import Batch, BlockHeader, IngestResult, RevertResult


class RpcError(Exception):
    """A JSON-RPC call failed after retries and failover, or was refused for good."""

    def __init__(self, message: str, *, code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class RangeTooLargeError(RpcError):
    """eth_getLogs refused the block range; `suggested` is the provider's hint, if any."""

    def __init__(
        self, message: str, *, suggested: tuple[int, int] | None = None, code: int | None = None
    ) -> None:
        super().__init__(message, code=code, retryable=False)
        self.suggested = suggested


class Rpc(Protocol):
    """The calls the listener makes. Block numbers are ints; hashes are 0x-hex strings."""

    async def chain_id(self) -> int:
        """eth_chainId."""
        ...

    async def block_number(self) -> int:
        """eth_blockNumber."""
        ...

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        """eth_getBlockByNumber without transactions ('latest', 'finalized' or a number)."""
        ...

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        """get_block of each number, in order (None where the node lacks it); may batch."""
        ...

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        """eth_getLogs over an inclusive block range; raises RangeTooLargeError when refused."""
        ...

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
        """eth_getLogs of one block pinned by its hash (EIP-234); a node without it errs."""
        ...

    def report_inconsistent(self) -> None:
        """The last answers could not be trusted: prefer another endpoint soon."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


class Store(Protocol):
    """What the follower keeps of a chain; implemented by listener.store.PgStore.

    Each write is one transaction; its feed ids are announced (the Redis doorbell) only
    after it committed. Block hashes are lowercase 0x-hex strings.
    """

    async def checkpoint(self, chain_id: int) -> tuple[int, str] | None:
        """The last committed block (number, hash), or None before the first batch."""
        ...

    async def recent_blocks(self, chain_id: int, limit: int) -> list[BlockHeader]:
        """The newest kept block headers (the reorg window), newest first."""
        ...

    async def event_blocks(self, chain_id: int, below: int) -> list[tuple[int, str]]:
        """Blocks below `below` holding live events (number, hash), newest first; bounded."""
        ...

    async def ingest(
        self,
        batch: Batch,
        rows: PreparedBatch,
        *,
        reorg_window: int,
        seen_at: float | None = None,
        holder: LockHolder | None = None,
    ) -> IngestResult:
        """Store a batch exactly once with its projections, kept headers and checkpoint.

        `seen_at` (time.time()) is when the head the batch reaches was seen, for the tip's
        stage histograms and the doorbell; None for a backfill range. `holder`: commit only
        if it holds the listener lock (listener.leader), else raise LeadershipLostError.

        Raises ReorgDetectedError (listener.store_types) if the batch does not extend the
        checkpoint's chain; nothing is changed then.
        """
        ...

    async def revert(self, chain_id: int, ancestor_number: int, ancestor_hash: str) -> RevertResult:
        """Remove every live event above the ancestor, undo projections, move the checkpoint."""
        ...

    async def set_halt(self, chain_id: int, reason: str | None) -> bool:
        """Record (None: clear) the stop after a deep reorg; whether anything changed."""
        ...


class Fence(Protocol):
    """Proof that we are still the active listener; raises when we are not."""

    async def check(self) -> None:
        """Raise if leadership was lost."""
        ...

    def holder(self) -> LockHolder | None:
        """Who must hold the lock for a commit (checked by the commit), None if unknown."""
        ...

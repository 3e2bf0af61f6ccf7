"""In-memory fakes of the follower's two ports (listener.ports): a node and a store.

`FakeRpc` is a chain of blocks holding raw eth_getLogs entries of one token (ABI-encoded
Transfer events the real Decoder decodes), with reorgs, a lagging node and failing calls on
demand. `FakeStore` keeps what PgStore keeps — live events by their key, a gap-free feed with
removal items, the reorg window's headers, the checkpoint, the halt — with the same refusals
(a batch that does not extend the checkpoint, a gap) and announces feed ids after each
"commit". Neither knows the follower: the follower's loop runs against them unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode

from dpo.chain.artifacts import load_artifact
from listener.abi_values import event_topic
from listener.decode import DecodedLog
from listener.ports import RpcError
from listener.store_rows import PreparedBatch
from listener.store_types import (
    Batch,
    BlockHeader,
    IngestResult,
    ReorgDetectedError,
    RevertResult,
    StoreError,
)

CHAIN_ID = 31337
TOKEN = "0x00000000000000000000000000000000000000b2"
HOLDER = "0x00000000000000000000000000000000000000c3"
Key = tuple[str, str, int]


def _transfer_topic() -> str:
    for item in load_artifact("Issuance").abi:
        if item.get("type") == "event" and item["name"] == "Transfer":
            return event_topic(item)
    raise AssertionError("the Issuance artefact has no Transfer event")


TRANSFER = _transfer_topic()


def digest(*parts: object) -> str:
    """A 32-byte 0x-hex hash of the parts (block and transaction hashes)."""
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class Block:
    """One block of the fake chain with its raw logs."""

    number: int
    hash: str
    parent_hash: str
    logs: list[dict[str, Any]] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        """eth_getBlockByNumber's answer (no logsBloom: the proof asks pinned logs)."""
        return {"number": hex(self.number), "hash": self.hash, "parentHash": self.parent_hash,
                "timestamp": hex(1_700_000_000 + 12 * self.number)}


class FakeRpc:
    """An in-memory node of one chain (listener.ports.Rpc).

    `head_lag` makes eth_blockNumber report a head that many blocks behind; `blocks_lag` makes
    the node lack the newest blocks (headers None, their logs missing from eth_getLogs, as a
    node behind its peers answers). `fail_next(n)` makes the next n calls fail retryably.
    """

    def __init__(self, chain_id: int = CHAIN_ID) -> None:
        self.chain = chain_id
        self.blocks: list[Block] = [Block(0, digest("genesis"), "0x" + "00" * 32)]
        self.head_lag = 0
        self.blocks_lag = 0
        self.failures = 0
        self.calls: Counter[str] = Counter()
        self.inconsistent = 0
        self.forks = 0

    # Building the chain.

    def mine(self, events: int = 0) -> Block:
        """Append a block with `events` Transfer logs of the token."""
        parent = self.blocks[-1]
        number = parent.number + 1
        block = Block(number, digest("block", number, self.forks), parent.hash)
        for index in range(events):
            tx_hash = digest("tx", number, self.forks, index)
            block.logs.append({
                "address": TOKEN,
                "topics": [TRANSFER, "0x" + "00" * 32, "0x" + HOLDER[2:].rjust(64, "0")],
                "data": "0x" + encode(["uint256"], [number * 100 + index]).hex(),
                "blockNumber": hex(number), "blockHash": block.hash, "transactionHash": tx_hash,
                "transactionIndex": hex(index), "logIndex": hex(index), "removed": False,
            })
        self.blocks.append(block)
        return block

    def mine_many(self, count: int, events: int = 1) -> None:
        """Append `count` blocks of `events` logs each."""
        for _ in range(count):
            self.mine(events)

    def reorg(self, depth: int, events: int = 1) -> None:
        """Replace the newest `depth` blocks with as many new ones (new hashes and logs)."""
        self.forks += 1
        del self.blocks[len(self.blocks) - depth:]
        self.mine_many(depth, events)

    def fail_next(self, calls: int) -> None:
        """Make the next `calls` calls raise a retryable RpcError (a provider outage)."""
        self.failures = calls

    def keys(self) -> set[Key]:
        """The (block hash, tx hash, log index) of every log on the chain now."""
        return {(log["blockHash"], log["transactionHash"], int(log["logIndex"], 16))
                for block in self.blocks for log in block.logs}

    @property
    def head(self) -> Block:
        """The newest block of the chain."""
        return self.blocks[-1]

    # The port.

    async def _call(self, method: str) -> None:
        await asyncio.sleep(0)  # a real call suspends: other tasks run meanwhile
        self.calls[method] += 1
        if self.failures:
            self.failures -= 1
            raise RpcError(f"{method}: connection refused (fake outage)", retryable=True)

    def _visible(self, number: int) -> Block | None:
        if 0 <= number < len(self.blocks) - self.blocks_lag:
            return self.blocks[number]
        return None

    async def chain_id(self) -> int:
        await self._call("eth_chainId")
        return self.chain

    async def block_number(self) -> int:
        await self._call("eth_blockNumber")
        return max(0, self.head.number - self.head_lag)

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        await self._call("eth_getBlockByNumber")
        if block in ("latest", "finalized"):
            block = max(0, self.head.number - self.head_lag)
        assert isinstance(block, int)
        found = self._visible(block)
        return None if found is None else found.header()

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        return [await self.get_block(number) for number in numbers]

    async def get_logs(self, from_block: int, to_block: int,
                       addresses: Sequence[str]) -> list[dict[str, Any]]:
        await self._call("eth_getLogs")
        wanted = {a.lower() for a in addresses}
        logs: list[dict[str, Any]] = []
        for number in range(from_block, to_block + 1):
            block = self._visible(number)
            if block is not None:
                logs += [dict(log) for log in block.logs if log["address"].lower() in wanted]
        return logs

    async def get_logs_at(self, block_hash: str,
                          addresses: Sequence[str]) -> list[dict[str, Any]]:
        await self._call("eth_getLogs")
        wanted = {a.lower() for a in addresses}
        for number in range(len(self.blocks)):
            block = self._visible(number)
            if block is not None and block.hash == block_hash:
                return [dict(log) for log in block.logs if log["address"].lower() in wanted]
        raise RpcError(f"unknown block {block_hash}", code=-32000)

    def report_inconsistent(self) -> None:
        self.inconsistent += 1

    async def aclose(self) -> None:
        return None


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
        blocks = {(log.block_number, log.block_hash) for _, log in self.live.values()
                  if log.block_number < below}
        return sorted(blocks, reverse=True)[:256]

    async def ingest(self, batch: Batch, rows: PreparedBatch, *,
                     reorg_window: int) -> IngestResult:
        self.writes += 1
        await self._fault(after_commit=False)
        last = rows.headers[batch.to_block]
        if self.point is not None:
            number, block_hash = self.point
            if number >= batch.to_block:
                known = block_hash if number == batch.to_block else (
                    self.headers[batch.to_block].hash if batch.to_block in self.headers
                    else None)
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
        return IngestResult(len(fresh), ids[0] if ids else None, ids[-1] if ids else None,
                            len(batch.logs) - len(fresh))

    async def revert(self, chain_id: int, ancestor_number: int,
                     ancestor_hash: str) -> RevertResult:
        self.writes += 1
        await self._fault(after_commit=False)
        if self.point is None or self.point[0] <= ancestor_number:
            return RevertResult(0, None, None)
        removed = sorted(((log.block_number, log.log_index, key, seq)
                          for key, (seq, log) in self.live.items()
                          if log.block_number > ancestor_number), reverse=True)
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

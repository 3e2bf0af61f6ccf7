"""An in-memory fake of the follower's Rpc port (listener.ports): a node of one chain.

`FakeRpc` is a chain of blocks holding raw eth_getLogs entries of one token (ABI-encoded
Transfer events the real Decoder decodes), with reorgs, a lagging node and failing calls on
demand. It does not know the follower: the follower's loop runs against it unchanged
(tests/unit/listener/test_follower_loop.py, with fake_store.FakeStore).
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
from listener.ports import RpcError

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
        return {
            "number": hex(self.number),
            "hash": self.hash,
            "parentHash": self.parent_hash,
            "timestamp": hex(1_700_000_000 + 12 * self.number),
        }


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
            block.logs.append(
                {
                    "address": TOKEN,
                    "topics": [TRANSFER, "0x" + "00" * 32, "0x" + HOLDER[2:].rjust(64, "0")],
                    "data": "0x" + encode(["uint256"], [number * 100 + index]).hex(),
                    "blockNumber": hex(number),
                    "blockHash": block.hash,
                    "transactionHash": tx_hash,
                    "transactionIndex": hex(index),
                    "logIndex": hex(index),
                    "removed": False,
                }
            )
        self.blocks.append(block)
        return block

    def mine_many(self, count: int, events: int = 1) -> None:
        """Append `count` blocks of `events` logs each."""
        for _ in range(count):
            self.mine(events)

    def reorg(self, depth: int, events: int = 1) -> None:
        """Replace the newest `depth` blocks with as many new ones (new hashes and logs)."""
        self.forks += 1
        del self.blocks[len(self.blocks) - depth :]
        self.mine_many(depth, events)

    def fail_next(self, calls: int) -> None:
        """Make the next `calls` calls raise a retryable RpcError (a provider outage)."""
        self.failures = calls

    def keys(self) -> set[Key]:
        """The (block hash, tx hash, log index) of every log on the chain now."""
        return {
            (log["blockHash"], log["transactionHash"], int(log["logIndex"], 16))
            for block in self.blocks
            for log in block.logs
        }

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

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        await self._call("eth_getLogs")
        wanted = {a.lower() for a in addresses}
        logs: list[dict[str, Any]] = []
        for number in range(from_block, to_block + 1):
            block = self._visible(number)
            if block is not None:
                logs += [dict(log) for log in block.logs if log["address"].lower() in wanted]
        return logs

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
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

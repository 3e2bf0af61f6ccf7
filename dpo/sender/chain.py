"""What the sender asks the chain, as typed answers (no decisions here)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dpo.sender.calls import Contracts
from dpo.sender.rpc import Rpc, RpcCallError
from dpo.sender.verdicts import Order

# Node messages (geth, anvil, erigon, nitro) meaning "this transaction is already in hand".
_KNOWN = (
    "already known",
    "known transaction",
    "already imported",
    "already exists",
    "transaction already",
)
_NONCE_USED = ("nonce too low", "nonce has already been used", "old nonce")


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """Our account's nonces, the fee market and the head, read at the start of a pass."""

    mined_nonce: int
    pending_nonce: int
    base_fee: int
    tip: int
    head: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    """The parts of a receipt the sender needs."""

    tx_hash: str
    status: int
    block_number: int
    gas_used: int
    block_hash: str = ""


class Sent(Enum):
    """How a broadcast went."""

    ACCEPTED = "accepted"
    KNOWN = "known"  # the node already has it (a resend, or a crash's broadcast)
    NONCE_USED = "nonce_used"  # mined already (ours) or taken: the receipts will tell
    REFUSED = "refused"


def is_revert(error: RpcCallError) -> bool:
    """Whether a node's error means the call reverts (as opposed to a node problem)."""
    return error.code == 3 or error.data is not None or "revert" in error.message.lower()


class Chain:
    """The JSON-RPC questions of the sender, for one account."""

    def __init__(self, rpc: Rpc, contracts: Contracts, address: str) -> None:
        self.rpc = rpc
        self.contracts = contracts
        self.address = address

    async def chain_id(self) -> int:
        """eth_chainId."""
        return int(await self.rpc.call("eth_chainId", []), 16)

    async def status(self) -> ChainStatus:
        """Mined and pending nonce of our account, latest base fee, suggested tip."""
        mined, pending, block = await asyncio.gather(
            self.rpc.call("eth_getTransactionCount", [self.address, "latest"]),
            self.rpc.call("eth_getTransactionCount", [self.address, "pending"]),
            self.rpc.call("eth_getBlockByNumber", ["latest", False]),
        )
        try:
            tip = int(await self.rpc.call("eth_maxPriorityFeePerGas", []), 16)
        except RpcCallError:
            tip = 0  # a node without the method (EIP-1559 fee history only): no tip
        block = block if isinstance(block, dict) else {}
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        return ChainStatus(
            int(mined, 16), int(pending, 16), base, tip, int(block.get("number") or "0x0", 16)
        )

    async def receipts(self, hashes: list[str]) -> dict[str, Receipt | None]:
        """Receipts by hash (None while not mined, as this node sees it), in batches."""
        answers = await self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        out: dict[str, Receipt | None] = {}
        for tx_hash, raw in zip(hashes, answers, strict=True):
            if isinstance(raw, RpcCallError):
                raise raw
            if not isinstance(raw, dict) or raw.get("blockNumber") is None:
                out[tx_hash] = None
                continue
            out[tx_hash] = Receipt(
                tx_hash,
                int(raw.get("status") or "0x0", 16),
                int(raw["blockNumber"], 16),
                int(raw.get("gasUsed") or "0x0", 16),
                str(raw.get("blockHash") or "").lower(),
            )
        return out

    async def block_hashes(self, numbers: list[int]) -> dict[int, str | None]:
        """The chain's block hash at each height (None: no such block yet), in batches."""
        wanted = sorted(set(numbers))
        answers = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in wanted])
        out: dict[int, str | None] = {}
        for number, raw in zip(wanted, answers, strict=True):
            if isinstance(raw, RpcCallError):
                raise raw
            out[number] = (
                str(raw["hash"]).lower() if isinstance(raw, dict) and raw.get("hash") else None
            )
        return out

    async def known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (in its pool or mined)."""
        return await self.rpc.call("eth_getTransactionByHash", [tx_hash]) is not None

    def _view(self, to: str, data: str) -> tuple[str, list[Any]]:
        return "eth_call", [{"to": to, "data": data}, "latest"]

    async def orders(self, references: list[str]) -> dict[str, Order | None]:
        """STO.getInvestment of each reference (None: the STO knows no such reference)."""
        answers = await self.rpc.batch(
            [
                self._view(self.contracts.sto_address, self.contracts.get_investment_data(r))
                for r in references
            ]
        )
        out: dict[str, Order | None] = {}
        for reference, answer in zip(references, answers, strict=True):
            if isinstance(answer, RpcCallError):
                if self.contracts.is_unknown_investment(answer.data) or (
                    answer.data is None and "UnknownInvestment" in answer.message
                ):
                    out[reference] = None
                    continue
                raise answer
            out[reference] = self.contracts.decode_investment(str(answer))
        return out

    async def issued(self, items: list[tuple[str, str | None]]) -> dict[str, bool]:
        """Issuance.isIssuedRef of each (reference, token; None = the configured Issuance)."""
        answers = await self.rpc.batch(
            [
                self._view(
                    token or self.contracts.issuance_address,
                    self.contracts.is_issued_data(reference),
                )
                for reference, token in items
            ]
        )
        out: dict[str, bool] = {}
        for (reference, _), answer in zip(items, answers, strict=True):
            if isinstance(answer, RpcCallError):
                raise answer
            out[reference] = self.contracts.decode_bool(str(answer))
        return out

    async def facts(
        self, kind: str, reference: str | None, token: str | None
    ) -> tuple[Order | None, bool]:
        """What the chain holds for one reference: its order, and (for issue) whether issued."""
        if reference is None:
            return None, False
        recorded = (await self.orders([reference]))[reference]
        issued = kind == "issue" and (await self.issued([(reference, token)]))[reference]
        return recorded, issued

    async def estimates(self, calls: list[tuple[str, str]]) -> list[int | RpcCallError]:
        """eth_estimateGas of each (to, data) from our account; a revert comes back as its
        RpcCallError (is_revert), any other node error is raised."""
        answers = await self.rpc.batch(
            [
                ("eth_estimateGas", [{"from": self.address, "to": to, "data": data}])
                for to, data in calls
            ]
        )
        out: list[int | RpcCallError] = []
        for answer in answers:
            if isinstance(answer, RpcCallError):
                if not is_revert(answer):
                    raise answer
                out.append(answer)
            else:
                out.append(int(answer, 16))
        return out

    async def replay_reason(self, to: str, data: str, block_number: int) -> str:
        """Why a mined call reverted: the same call replayed on the state after its block
        (which holds whatever earlier transaction of the block made it fail), then before."""
        for block in (block_number, max(block_number - 1, 0)):
            try:
                await self.rpc.call(
                    "eth_call", [{"from": self.address, "to": to, "data": data}, hex(block)]
                )
            except RpcCallError as error:
                return self.contracts.reason(error.data, error.message)
        return "reverted on chain (a replay succeeds: out of gas?)"

    async def broadcast(self, raw_tx: str) -> tuple[Sent, str]:
        """eth_sendRawTransaction; the node's message when it refused."""
        try:
            await self.rpc.call("eth_sendRawTransaction", [raw_tx])
        except RpcCallError as error:
            text = error.message.lower()
            if any(fragment in text for fragment in _KNOWN):
                return Sent.KNOWN, error.message
            if any(fragment in text for fragment in _NONCE_USED):
                return Sent.NONCE_USED, error.message
            return Sent.REFUSED, error.message
        return Sent.ACCEPTED, ""

"""What the listener needs from a JSON-RPC provider; implemented by listener.rpc.RpcClient."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class RpcError(Exception):
    """A JSON-RPC call failed after retries and failover, or was refused for good."""

    def __init__(self, message: str, *, code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class RangeTooLargeError(RpcError):
    """eth_getLogs refused the block range; `suggested` is the provider's hint, if any."""

    def __init__(self, message: str, *, suggested: tuple[int, int] | None = None,
                 code: int | None = None) -> None:
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

    async def get_logs(self, from_block: int, to_block: int,
                       addresses: Sequence[str]) -> list[dict[str, Any]]:
        """eth_getLogs over an inclusive block range; raises RangeTooLargeError when refused."""
        ...

    async def get_logs_at(self, block_hash: str,
                          addresses: Sequence[str]) -> list[dict[str, Any]]:
        """eth_getLogs of one block pinned by its hash (EIP-234); a node without it errs."""
        ...

    def report_inconsistent(self) -> None:
        """The last answers could not be trusted: prefer another endpoint soon."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...

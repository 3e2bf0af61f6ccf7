"""Fetching one block range: its logs (split as the provider demands) and the headers it needs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from listener.ports import RangeTooLargeError, Rpc, RpcError
from listener.ranges import RangeCursor, RangeSizer
from listener.reorg import Header, linked

logger = logging.getLogger(__name__)

# Block headers fetched at once for one range.
HEADER_FETCHES = 16


class ChainMovedError(Exception):
    """The chain changed while a range was fetched; the range is fetched again."""


@dataclass
class Fetched:
    """One range's logs and the headers fetched for it, ready to apply."""

    first: int
    last: int
    logs: list[dict[str, Any]]
    headers: list[Header] = field(default_factory=list)
    timestamps: dict[int, int] = field(default_factory=dict)


def to_int(value: Any) -> int:
    """An int from an int or a 0x-hex string."""
    return value if isinstance(value, int) else int(str(value), 16)


def hex_str(value: Any) -> str:
    """Lowercase 0x-hex from a string or bytes."""
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


async def fetch_range(rpc: Rpc, sizer: RangeSizer, addresses: Sequence[str], first: int,
                      last: int, window_start: int) -> Fetched:
    """The logs of [first, last], split as the provider demands, and the needed headers.

    Headers: every block from `window_start` on (the reorg window) and the range's last block
    (the checkpoint's hash); below the window only blocks whose logs lack `blockTimestamp`,
    since one call per block with events would dominate a long backfill.
    """
    logs: list[dict[str, Any]] = []
    cursor = RangeCursor(first, last, sizer)
    while not cursor.done:
        lo, hi = cursor.current
        try:
            part = await rpc.get_logs(lo, hi, addresses)
        except RangeTooLargeError as error:
            if lo == hi:
                raise RpcError(f"the provider refused eth_getLogs of the single block {lo}: "
                               f"{error}", retryable=True) from error
            suggested = error.suggested
            max_range = getattr(error, "max_range", None)
            if suggested is None and isinstance(max_range, int) and max_range > 0:
                suggested = (lo, lo + max_range - 1)
            logger.info("provider refused blocks %s..%s; shrinking the range", lo, hi)
            cursor.refuse(suggested)
            continue
        cursor.accept(len(part))
        logs.extend(part)
    wanted = {last, *range(max(first, window_start), last + 1)}
    wanted.update(to_int(log["blockNumber"]) for log in logs
                  if log.get("blockTimestamp") is None)
    limit = asyncio.Semaphore(HEADER_FETCHES)

    async def one(number: int) -> dict[str, Any]:
        async with limit:
            block = await rpc.get_block(number)
        if block is None:
            raise ChainMovedError(f"the node has no block {number}")
        return block

    blocks = await asyncio.gather(*(one(n) for n in sorted(wanted)))
    headers = [Header(to_int(b["number"]), hex_str(b["hash"]), hex_str(b["parentHash"]))
               for b in blocks]
    timestamps = {to_int(b["number"]): to_int(b["timestamp"]) for b in blocks}
    return Fetched(first, last, logs, headers, timestamps)


def check_fetched(fetched: Fetched, tip: tuple[int, str] | None) -> None:
    """Raise ChainMovedError unless the range is one consistent extension of our tip."""
    check_consistent(fetched)
    check_follows(fetched, tip)


def check_consistent(fetched: Fetched) -> None:
    """Raise ChainMovedError unless the headers chain and every log is of those blocks."""
    hashes = {h.number: h.hash for h in fetched.headers}
    if not linked(fetched.headers):
        raise ChainMovedError(f"headers of {fetched.first}..{fetched.last} do not chain")
    checked: tuple[Any, Any] | None = None
    for log in fetched.logs:
        block = (log["blockNumber"], log["blockHash"])
        if block != checked:  # logs come grouped by block: compare each block once
            known = hashes.get(to_int(block[0]))
            if known is not None and known != hex_str(block[1]):
                raise ChainMovedError(f"a log of block {to_int(block[0])} is orphaned")
            checked = block
        if log.get("removed"):
            raise ChainMovedError(f"a log of block {to_int(block[0])} is orphaned")


def check_follows(fetched: Fetched, tip: tuple[int, str] | None) -> None:
    """Raise ChainMovedError unless the range's first block follows our tip."""
    first = fetched.headers[0]
    if tip is not None and first.number == tip[0] + 1 and first.parent_hash != tip[1]:
        raise ChainMovedError(f"block {first.number} does not follow our tip")

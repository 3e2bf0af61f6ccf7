"""Fetching one block range: its logs (split as the provider demands), proven, and its headers.

A load-balanced provider answers consecutive calls from different nodes, and a node that has
not imported a block (or lost its receipts) answers `eth_getLogs` for it with nothing rather
than an error. So an answer only counts once every block of it is proven (docs/ARCHITECTURE.md,
"Proof of range"): a block with logs in the answer was seen by the node that answered; a block
without must have a header (from any node) whose logsBloom excludes our addresses, or a
`blockHash`-pinned `eth_getLogs` (EIP-234: a node lacking the block errs) that is empty too.
An answer failing that is refused, counted and asked again; it is never committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from listener import metrics
from listener.bloom import AddressBloom, parse_bloom
from listener.ports import RangeTooLargeError, Rpc, RpcError
from listener.ranges import RangeCursor, RangeSizer
from listener.reorg import Header, linked

logger = logging.getLogger(__name__)

# Pinned eth_getLogs fetched at once for one range (headers come in batches: get_blocks).
HEADER_FETCHES = 16
# Refused answers of one range asked again in place (each after a growing pause) before the
# follower backs off as a whole.
REFUSAL_RETRIES = 4
REFUSAL_PAUSE = 0.1
# Attempts at a header the answering node does not have (a node behind its peers).
HEADER_ATTEMPTS = 3


class ChainMovedError(Exception):
    """The chain changed, or a node's answer could not be trusted; the range is fetched again.

    `reason` is the label of `dpo_rpc_inconsistent_total`.
    """

    def __init__(self, message: str, *, reason: str = "chain_moved") -> None:
        super().__init__(message)
        self.reason = reason


class RefusedAnswerError(ChainMovedError):
    """An eth_getLogs answer that the proof of range refused (a node behind the chain)."""


@dataclass
class Fetched:
    """One range's logs and the headers fetched for it, ready to apply."""

    first: int
    last: int
    logs: list[dict[str, Any]]
    headers: list[Header] = field(default_factory=list)
    timestamps: dict[int, int] = field(default_factory=dict)
    # Header fetches answered from a pushed header (`known`; tests and the benchmark read it).
    saved: int = 0


def to_int(value: Any) -> int:
    """An int from an int or a 0x-hex string."""
    return value if isinstance(value, int) else int(str(value), 16)


def hex_str(value: Any) -> str:
    """Lowercase 0x-hex from a string or bytes."""
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def refuse(error: ChainMovedError) -> ChainMovedError:
    """Count a refused answer (`dpo_rpc_inconsistent_total{reason}`) and return the error."""
    metrics.RPC_INCONSISTENT.labels(reason=error.reason).inc()
    return error


@dataclass
class _Blocks:
    """Headers fetched for one range, by number, with their blooms and timestamps."""

    rpc: Rpc
    # Raw headers known without a fetch (a pushed head), dropped once the node's answers disagree.
    known: dict[int, dict[str, Any]] = field(default_factory=dict)
    saved: int = 0
    headers: dict[int, Header] = field(default_factory=dict)
    blooms: dict[int, int | None] = field(default_factory=dict)
    timestamps: dict[int, int] = field(default_factory=dict)

    async def fetch(
        self, numbers: Sequence[int], pause: Callable[[float], Awaitable[None]]
    ) -> None:
        todo = [n for n in numbers if n not in self.headers]
        for number in [n for n in todo if n in self.known]:
            self.keep(number, self.known[number])
            self.saved += 1
        todo = [n for n in todo if n not in self.headers]
        for attempt in range(HEADER_ATTEMPTS):
            if not todo:
                return
            # In JSON-RPC batches (listener/rpc_batch.py): one request per ~100 headers.
            blocks = await self.rpc.get_blocks(todo)
            for number, block in zip(todo, blocks, strict=True):
                if block is not None:
                    self.keep(number, block)
            todo = [n for n in todo if n not in self.headers]
            if todo:  # the answering node is behind its peers: ask again, prefer another URL
                self.inconsistent()
                await pause(REFUSAL_PAUSE * 2**attempt)
        if todo:
            raise refuse(
                ChainMovedError(f"the node has no block {todo[0]}", reason="missing_block")
            )

    def keep(self, number: int, block: dict[str, Any]) -> None:
        """Keep a block's header, bloom and timestamp."""
        self.headers[number] = Header(
            to_int(block["number"]), hex_str(block["hash"]), hex_str(block["parentHash"])
        )
        self.blooms[number] = parse_bloom(block.get("logsBloom"))
        self.timestamps[number] = to_int(block["timestamp"])

    def inconsistent(self) -> None:
        """The node's answers disagree: ask it (another URL) for every header from now on."""
        self.known.clear()
        self.rpc.report_inconsistent()


async def prove(
    rpc: Rpc,
    addresses: Sequence[str],
    bloom: AddressBloom,
    blocks: _Blocks,
    logs: list[dict[str, Any]],
    lo: int,
    hi: int,
    pause: Callable[[float], Awaitable[None]],
) -> None:
    """Raise RefusedAnswerError unless the answer for [lo, hi] is proven complete, block by block.

    Fetches the headers of the blocks without logs in the answer, and a pinned eth_getLogs of
    each whose bloom admits one of our addresses (or that has no bloom).
    """
    seen: set[int] = set()
    for log in logs:
        number = to_int(log["blockNumber"])
        if not lo <= number <= hi:
            raise refuse(
                RefusedAnswerError(
                    f"eth_getLogs of blocks {lo}..{hi} answered with a log of block {number}",
                    reason="out_of_range",
                )
            )
        seen.add(number)
    await blocks.fetch([n for n in range(lo, hi + 1) if n not in seen], pause)
    suspects = []
    for number in range(lo, hi + 1):
        if number in seen:
            continue
        block_bloom = blocks.blooms.get(number)
        if block_bloom is None or bloom.may_log(block_bloom):
            suspects.append(number)
    limit = asyncio.Semaphore(HEADER_FETCHES)

    async def pinned(number: int) -> bool:
        async with limit:
            return bool(await rpc.get_logs_at(blocks.headers[number].hash, addresses))

    found = await asyncio.gather(*(pinned(n) for n in suspects))
    missing = [n for n, has in zip(suspects, found, strict=True) if has]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise refuse(
            RefusedAnswerError(
                f"eth_getLogs of blocks {lo}..{hi} lacked the logs of block(s) {shown} (the "
                f"answering node was behind or had lost them)",
                reason="missing_logs",
            )
        )


async def fetch_range(
    rpc: Rpc,
    sizer: RangeSizer,
    addresses: Sequence[str],
    first: int,
    last: int,
    window_start: int,
    *,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    pushed: dict[str, Any] | None = None,
) -> Fetched:
    """The proven logs of [first, last], split as the provider demands, and the needed headers.

    A range whose logs reach the sizer's `max_results` before its end (denser than its size
    foresaw) ends there: the Fetched's `last` says where, and the caller fetches the rest.

    Headers: every block from `window_start` on (the reorg window), the range's last block
    (the checkpoint's hash), blocks whose logs lack `blockTimestamp`, and those the proof of
    range needs (blocks without logs). A range dense with events needs few beyond the window.
    `pushed` is a header the node pushed (listener.heads): its block is not fetched.
    """
    bloom = AddressBloom(addresses)
    blocks = _Blocks(rpc, {to_int(pushed["number"]): pushed} if pushed is not None else {})
    logs: list[dict[str, Any]] = []
    cursor = RangeCursor(first, last, sizer)
    refusals = 0
    while not cursor.done:
        lo, hi = cursor.current
        try:
            part = await rpc.get_logs(lo, hi, addresses)
        except RangeTooLargeError as error:
            if lo == hi:
                raise RpcError(
                    f"the provider refused eth_getLogs of the single block {lo}: {error}",
                    retryable=True,
                ) from error
            suggested = error.suggested
            max_range = getattr(error, "max_range", None)
            if suggested is None and isinstance(max_range, int) and max_range > 0:
                suggested = (lo, lo + max_range - 1)
            logger.info("provider refused blocks %s..%s; shrinking the range", lo, hi)
            cursor.refuse(suggested)
            continue
        try:
            await prove(rpc, addresses, bloom, blocks, part, lo, hi, pause)
        except RefusedAnswerError as refused:
            refusals += 1
            blocks.inconsistent()  # the client prefers its other URL after a few
            if refusals > REFUSAL_RETRIES:
                raise
            delay = REFUSAL_PAUSE * 2 ** (refusals - 1)
            logger.warning("refused an answer: %s; asking again in %.1fs", refused, delay)
            await pause(delay)
            continue
        cursor.accept(len(part))
        logs.extend(part)
        if sizer.max_results is not None and len(logs) >= sizer.max_results and not cursor.done:
            last = hi  # this range holds its share of the logs in flight: the rest comes later
            break
    wanted = {last, *range(max(first, window_start), last + 1)}
    wanted.update(to_int(log["blockNumber"]) for log in logs if log.get("blockTimestamp") is None)
    await blocks.fetch(sorted(wanted), pause)
    numbers = sorted(blocks.headers)
    return Fetched(
        first,
        last,
        logs,
        [blocks.headers[n] for n in numbers],
        {n: blocks.timestamps[n] for n in numbers},
        blocks.saved,
    )


def check_fetched(fetched: Fetched, tip: tuple[int, str] | None) -> None:
    """Raise ChainMovedError unless the range is one consistent extension of our tip."""
    check_consistent(fetched)
    check_follows(fetched, tip)


def check_consistent(fetched: Fetched) -> None:
    """Raise ChainMovedError unless the headers chain and every log is of those blocks."""
    hashes = {h.number: h.hash for h in fetched.headers}
    if not linked(fetched.headers):
        raise refuse(
            ChainMovedError(
                f"headers of {fetched.first}..{fetched.last} do not chain",
                reason="unlinked_headers",
            )
        )
    checked: tuple[Any, Any] | None = None
    for log in fetched.logs:
        block = (log["blockNumber"], log["blockHash"])
        if block != checked:  # logs come grouped by block: compare each block once
            known = hashes.get(to_int(block[0]))
            if known is not None and known != hex_str(block[1]):
                raise refuse(
                    ChainMovedError(
                        f"a log of block {to_int(block[0])} is orphaned", reason="orphaned_log"
                    )
                )
            checked = block
        if log.get("removed"):
            raise refuse(
                ChainMovedError(
                    f"a log of block {to_int(block[0])} is orphaned", reason="orphaned_log"
                )
            )


def check_follows(fetched: Fetched, tip: tuple[int, str] | None) -> None:
    """Raise ChainMovedError unless the range's first block follows our tip."""
    first = fetched.headers[0]
    if tip is not None and first.number == tip[0] + 1 and first.parent_hash != tip[1]:
        raise ChainMovedError(f"block {first.number} does not follow our tip")

"""Our tip against the chain: the stored window a reorg may replace, and the rewind point.

Read through the Store port (listener.ports). A reorg deeper than the kept window stops the
listener (exit 1) and changes nothing, since no common ancestor is known; the error suggests
the newest block whose stored events the chain still has as the `dpo listener --rewind`
target (docs/LISTENER.md). The halt itself is recorded by `Store.set_halt`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from listener.ports import Store
from listener.reorg import window


async def stored_window(
    store: Store, chain_id: int, tip: tuple[int, str], size: int
) -> dict[int, str]:
    """Our kept hashes a reorg may replace: the tip and the `size` blocks below it."""
    recent = await store.recent_blocks(chain_id, size + 1)
    stored = window({b.number: b.hash for b in recent}, tip[0], size)
    stored.setdefault(tip[0], tip[1])
    return stored


async def rewind_point(
    store: Store, chain_id: int, below: int, chain_hash: Callable[[int], Awaitable[str | None]]
) -> int | None:
    """The newest block below `below` whose stored events the chain still has, if any."""
    for number, block_hash in await store.event_blocks(chain_id, below):
        if await chain_hash(number) == block_hash:
            return number
    return None

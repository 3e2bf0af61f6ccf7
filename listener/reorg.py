"""Reorg decisions as pure functions: where the chain forked from what we stored, or why we stop."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass


class DeepReorgError(RuntimeError):
    """The chain replaced every block we kept: continuing could corrupt the database."""

    def __init__(
        self, *, chain_id: int, lowest: int, highest: int, rewind_to: int | None = None
    ) -> None:
        self.chain_id = chain_id
        self.lowest = lowest
        self.highest = highest
        # A block known to be on the chain (its stored events still are), else a guess.
        self.rewind_to = max(0, lowest - 1) if rewind_to is None else rewind_to
        where = (
            "the newest block below them whose stored events are still on the chain"
            if rewind_to is not None
            else "a block before the fork"
        )
        super().__init__(
            f"chain {chain_id} reorganised deeper than the kept reorg window: every stored block "
            f"from {lowest} to {highest} is no longer on the chain, so no common ancestor is "
            f"known. The listener stopped and changed nothing. Check the RPC provider points at "
            f"the right chain, then re-sync from {where} with "
            f"`dpo listener --rewind {self.rewind_to}` (or a lower block), and consider raising "
            f"LISTENER_REORG_WINDOW."
        )


@dataclass(frozen=True)
class Header:
    """The part of a block the follower compares."""

    number: int
    hash: str
    parent_hash: str


@dataclass(frozen=True)
class Verdict:
    """What the chain says about our stored blocks.

    `lagging`: the node lacks a block we stored (it is behind us), so nothing can be decided
    yet. Otherwise `ancestor` is the highest stored block still on the chain; it equals the
    tip when there was no reorg.
    """

    lagging: bool = False
    ancestor: int | None = None


async def walk_back(
    *, chain_id: int, stored: Mapping[int, str], chain_hash: Callable[[int], Awaitable[str | None]]
) -> Verdict:
    """Compare stored hashes with the chain's from the newest down to the first match.

    Raises DeepReorgError when no stored block is still on the chain. `chain_hash` returns the
    chain's hash of a block, or None when the node does not have it (a lagging node).
    """
    if not stored:
        return Verdict(ancestor=None)
    for number in sorted(stored, reverse=True):
        current = await chain_hash(number)
        if current is None:
            return Verdict(lagging=True)
        if current == stored[number]:
            return Verdict(ancestor=number)
    raise DeepReorgError(chain_id=chain_id, lowest=min(stored), highest=max(stored))


def window(stored: Mapping[int, str], tip: int, size: int) -> dict[int, str]:
    """The stored blocks a reorg may replace: numbers from tip - size up to the tip."""
    return {n: h for n, h in stored.items() if tip - size <= n <= tip}


def linked(headers: Sequence[Header]) -> bool:
    """Tell whether consecutive headers chain by parent hash (gaps are not checked)."""
    for before, after in itertools.pairwise(headers):
        if after.number == before.number + 1 and after.parent_hash != before.hash:
            return False
    return True

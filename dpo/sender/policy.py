"""The sender's decisions, free of I/O: fees, replacement, nonces and what an answer means.

Pure functions of what the sender last read from chain and database, so the risky rules
(never reuse a nonce, never issue twice, when to replace, when to give up, when a mined
transaction is final) are tested exhaustively in tests/unit/sender without a chain.

- Fees (EIP-1559): a first attempt offers `2 * base fee + tip` as its fee cap, so it stays
  includable while the base fee doubles; the tip is the node's suggestion. Both are clipped
  to the configured caps. A replacement must raise BOTH the fee cap and the tip by at least
  10% (the rule geth, anvil and Arbitrum's sequencer apply to a same-nonce replacement); we
  raise by `bump_percent` (at least 10), and at least to what the current base fee needs.
  When the caps leave no room for a valid bump, the transaction keeps waiting at its fee and
  is reported as stuck: a nonce is never skipped, since every later one would wait behind it.
- Nonces (`fresh_nonces`): a hole a reorg left first, then past the chain's pending count and
  every nonce we hold. Every nonce we assign is written (with its signed transaction) before
  the broadcast, so after a crash the records say what may be on chain.
- An in-flight transaction whose nonce the chain has used is looked up by its receipts (of
  every version we signed); none found for `nonce_taken_after` seconds means another sender
  used our key's nonce: the intent goes back to pending and the chain check decides again.
- A revert is final for the intent (recorded with its reason, surfaced to ops); it is never
  retried on its own, because the same call would fail the same way or, worse, succeed
  twice. An operator retries it (`dpo sender retry`) once the cause is fixed.
- A receipt is not the end: a reorg can take its block. A mined intent is final once the
  listener holds its event or its block is `confirmations` deep and still the chain's block
  at that height (`mined_step`); a block that is gone sends it back to the chain check.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

MIN_BUMP_PERCENT = 10


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fee fields of one signed transaction, in wei."""

    max_fee: int
    tip: int


@dataclass(frozen=True, slots=True)
class FeeCaps:
    """The most we pay per gas, and how much each replacement raises the fees."""

    max_fee: int
    tip: int
    bump_percent: int = 12


def _raised(value: int, percent: int) -> int:
    return -(-value * (100 + percent) // 100)  # rounded up (0 stays 0)


def initial_fees(base_fee: int, suggested_tip: int, caps: FeeCaps) -> Fees:
    """The fees of a first attempt: the suggested tip, room for the base fee to double."""
    tip = min(max(suggested_tip, 0), caps.tip)
    max_fee = min(2 * max(base_fee, 0) + tip, caps.max_fee)
    return Fees(max_fee=max_fee, tip=min(tip, max_fee))


def bumped_fees(old: Fees, base_fee: int, suggested_tip: int, caps: FeeCaps) -> Fees | None:
    """The fees of a replacement, or None when the caps leave no valid replacement."""
    percent = max(caps.bump_percent, MIN_BUMP_PERCENT)
    tip = max(_raised(old.tip, percent), old.tip + 1, min(max(suggested_tip, 0), caps.tip))
    max_fee = max(_raised(old.max_fee, percent), 2 * max(base_fee, 0) + tip)
    tip, max_fee = min(tip, caps.tip), min(max_fee, caps.max_fee)
    tip = min(tip, max_fee)
    if tip < _raised(old.tip, MIN_BUMP_PERCENT) or max_fee < _raised(old.max_fee, MIN_BUMP_PERCENT):
        return None
    if max_fee <= old.max_fee:
        return None
    return Fees(max_fee=max_fee, tip=tip)


def fresh_nonces(count: int, *, chain_mined: int, chain_pending: int, held: set[int]) -> list[int]:
    """`count` nonces for new transactions, gap-free: first the holes at or above the chain's
    mined count no intent of ours holds (a reorg freed them; one left empty holds every later
    transaction back), then past the chain's pending count and everything we hold."""
    start = max([chain_pending, chain_mined, *(n + 1 for n in held)])
    holes = [n for n in range(chain_mined, start) if n not in held]
    return (holes + list(range(start, start + count)))[:count]


def holes_behind(chain_mined: int, held: set[int]) -> list[int]:
    """Nonces at or above the chain's mined count that nobody of ours holds, below one we
    hold: each keeps our later transactions from being mined until something carries it."""
    top = max(held, default=chain_mined)
    return [n for n in range(chain_mined, top) if n not in held]


class Step(Enum):
    """What to do with an in-flight transaction on this pass."""

    WAIT = "wait"
    RECEIPT = "receipt"  # its nonce is used on chain: find which version was mined
    BROADCAST = "broadcast"  # written but never broadcast (a crash came in between)
    CHECK_POOL = "check_pool"  # not seen for a while: resend it if the node lost it
    REPLACE = "replace"  # not mined in time: same nonce, higher fees


@dataclass(frozen=True, slots=True)
class Flight:
    """An in-flight intent as the decision sees it (times in seconds on one clock)."""

    nonce: int
    signed_at: float
    broadcast_at: float | None
    checked_at: float | None = None


def flight_step(
    flight: Flight, *, mined_nonce: int, now: float, replace_after: float, resend_after: float
) -> Step:
    """Decide the next step for one in-flight transaction (its latest signed version)."""
    if flight.nonce < mined_nonce:
        return Step.RECEIPT
    if flight.broadcast_at is None:
        return Step.BROADCAST
    if now - flight.signed_at >= replace_after:
        return Step.REPLACE
    last_seen = max(flight.broadcast_at, flight.checked_at or flight.broadcast_at)
    if now - last_seen >= resend_after:
        return Step.CHECK_POOL
    return Step.WAIT


class Outcome(Enum):
    """What the receipts of an intent's versions say once its nonce is used."""

    SUCCEEDED = "succeeded"
    REVERTED = "reverted"
    NONCE_TAKEN = "nonce_taken"
    NOT_YET = "not_yet"


def receipt_outcome(
    statuses: list[int | None], *, missing_for: float, nonce_taken_after: float
) -> Outcome:
    """Read the receipts (status per signed version, None = none) of a used nonce. At most one
    version is mined. No receipt is normal for a moment (a node behind the one that counted
    the nonce); after `nonce_taken_after` seconds the nonce is someone else's."""
    if 1 in statuses:
        return Outcome.SUCCEEDED
    if 0 in statuses:
        return Outcome.REVERTED
    if missing_for >= nonce_taken_after:
        return Outcome.NONCE_TAKEN
    return Outcome.NOT_YET


class Mined(Enum):
    """What to do with a mined intent on this pass."""

    WAIT = "wait"  # not deep enough yet, or the node's answers disagree for a moment
    FINAL = "final"  # confirmed: succeeded
    MOVED = "moved"  # a reorg moved it to another block: record it, count again
    RECHECK = "recheck"  # a reorg took it: back to the chain check, sent again if needed


@dataclass(frozen=True, slots=True)
class Inclusion:
    """A block a transaction is in."""

    block_number: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class MinedView:
    """A mined intent as the decision sees it: where we saw it mined; where a successful
    version's receipt is now (None: none); whether a version now reverted; the chain's hash
    at the recorded height (None: unknown); whether the chain's mined count is past its nonce;
    the block of the listener's live event for it, at or below its checkpoint (None: none)."""

    recorded: Inclusion
    receipt: Inclusion | None
    reverted: bool
    canonical_hash: str | None
    nonce_used: bool
    listener_block: int | None = None


def mined_step(
    view: MinedView, *, head: int, confirmations: int, missing_for: float, missing_after: float
) -> Mined:
    """Final: the listener holds the event `confirmations` deep (it removes what a reorg takes;
    the same depth keeps one rule whatever its own setting), or our receipt's block is that
    deep and still the chain's block at its height. No receipt while the chain no longer
    counts our nonce: the block is gone. No receipt while the nonce is used: a lagging node or
    another transaction took it; rechecked after `missing_after` seconds."""
    if view.listener_block is not None and head - view.listener_block >= confirmations:
        return Mined.FINAL
    if view.receipt is None:
        if view.reverted or not view.nonce_used or missing_for >= missing_after:
            return Mined.RECHECK
        return Mined.WAIT
    if view.receipt != view.recorded:
        return Mined.MOVED
    if view.canonical_hash != view.recorded.block_hash:
        return Mined.WAIT  # unknown, or the receipt and the block disagree: read again
    if head - view.recorded.block_number >= confirmations:
        return Mined.FINAL
    return Mined.WAIT

"""The exactly-once check before sending, free of I/O: what the chain already holds decides.

Given the order an intent means (`Order`, as STO.getInvestment returns it), what the chain
records for its reference, whether its tokens are issued and the state of the intent it
depends on, each function returns a `Decision`: send, done (the chain has it), cancel, fail
(ops must look) or wait. Tested exhaustively in tests/unit/sender/test_policy.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Order:
    """An order as STO.getInvestment returns it (or as we expect it to be)."""

    offering_id: int
    investor: str
    amount: int
    units: int
    refunded: bool = False

    def same_order(self, other: Order) -> bool:
        """Same offering, investor (any case), amount and units."""
        return (self.offering_id, self.investor.lower(), self.amount, self.units) == (
            other.offering_id,
            other.investor.lower(),
            other.amount,
            other.units,
        )


class Verdict(Enum):
    """What the chain check before sending decides."""

    SEND = "send"
    DONE = "done"  # the chain already has it: succeeded, nothing sent
    CANCEL = "cancel"  # nothing to do on chain any more
    FAIL = "fail"  # cannot be sent as it is: ops must look
    WAIT = "wait"  # its dependency has not succeeded yet


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict and the note recorded with it."""

    verdict: Verdict
    note: str = ""


def dependency_decision(kind: str, dependency_state: str | None) -> Decision:
    """May an intent go, given the state of the intent it depends on (None: no dependency)?
    A mined one is enough: a reorg that takes the order's block takes the issue's (a later
    nonce) too, and both go back to the chain check."""
    if kind == "fill":  # pending again (taken, or a reorg): its nonce is carried otherwise
        return Decision(Verdict.CANCEL, "a fill only held a nonce; not sent again")
    if dependency_state in (None, "succeeded", "mined"):
        return Decision(Verdict.SEND)
    if dependency_state in ("pending", "in_flight"):
        return Decision(Verdict.WAIT)
    if kind == "refund":
        return Decision(
            Verdict.CANCEL,
            f"the order's record ended {dependency_state}: nothing on chain to refund",
        )
    return Decision(Verdict.FAIL, f"the intent it depends on ended {dependency_state}")


def chain_decision(
    kind: str,
    expected: Order,
    recorded: Order | None,
    issued: bool,
    dependency_state: str | None = None,
) -> Decision:
    """The exactly-once check: what the chain already holds for this reference decides. An
    order only mined yet absent on chain was taken by a reorg and is sent again: wait for it."""
    gone = Decision(Verdict.WAIT, "the order's record is not on chain (a reorg?)")
    if recorded is not None and not recorded.same_order(expected):
        return Decision(Verdict.FAIL, "the reference is recorded on chain for another order")
    if kind == "invest":
        if recorded is not None:
            return Decision(Verdict.DONE, "already recorded on chain")
        return Decision(Verdict.SEND)
    if kind == "issue":
        if issued:
            return Decision(Verdict.DONE, "already issued on chain")
        if recorded is None:
            return (
                gone
                if dependency_state == "mined"
                else Decision(Verdict.FAIL, "the order is not recorded on chain")
            )
        if recorded.refunded:
            return Decision(Verdict.CANCEL, "the order was refunded on chain")
        return Decision(Verdict.SEND)
    if kind == "refund":
        if recorded is None:
            return (
                gone
                if dependency_state == "mined"
                else Decision(Verdict.CANCEL, "nothing recorded on chain to refund")
            )
        if recorded.refunded:
            return Decision(Verdict.DONE, "already refunded on chain")
        return Decision(Verdict.SEND)
    return Decision(Verdict.FAIL, f"unknown intent kind {kind!r}")


def after_revert(kind: str, recorded: Order | None, issued: bool) -> Decision:
    """A mined version reverted: did the chain get what we wanted some other way?"""
    if kind == "invest" and recorded is not None:
        return Decision(Verdict.DONE, "reverted, but the order is recorded on chain")
    if kind == "issue" and issued:
        return Decision(Verdict.DONE, "reverted, but the tokens are issued on chain")
    if kind == "refund" and recorded is not None and recorded.refunded:
        return Decision(Verdict.DONE, "reverted, but the order is refunded on chain")
    return Decision(Verdict.FAIL)

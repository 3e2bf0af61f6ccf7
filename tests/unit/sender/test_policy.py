"""The sender's pure decisions: fees, nonces, in-flight steps, outcomes, the chain check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpo.sender.policy import (
    MIN_BUMP_PERCENT,
    FeeCaps,
    Fees,
    Flight,
    Order,
    Outcome,
    Step,
    Verdict,
    after_revert,
    bumped_fees,
    chain_decision,
    dependency_decision,
    flight_step,
    initial_fees,
    next_nonce,
    nonce_gaps,
    receipt_outcome,
)

GWEI = 10**9
CAPS = FeeCaps(max_fee=100 * GWEI, tip=5 * GWEI, bump_percent=12)
ORDER = Order(offering_id=1, investor="0x" + "aB" * 20, amount=3000, units=3)


# ---- fees ----

def test_initial_fees_leave_room_for_the_base_fee_to_double() -> None:
    assert initial_fees(10 * GWEI, 2 * GWEI, CAPS) == Fees(max_fee=22 * GWEI, tip=2 * GWEI)


def test_initial_fees_are_clipped_to_the_caps() -> None:
    assert initial_fees(80 * GWEI, 9 * GWEI, CAPS) == Fees(max_fee=100 * GWEI, tip=5 * GWEI)
    assert initial_fees(0, 0, CAPS) == Fees(0, 0)
    # A tip above the fee cap is cut to it.
    assert initial_fees(0, 9 * GWEI, FeeCaps(max_fee=GWEI, tip=5 * GWEI)) == Fees(GWEI, GWEI)


def test_a_replacement_raises_both_fees_by_at_least_ten_percent() -> None:
    old = Fees(max_fee=22 * GWEI, tip=2 * GWEI)
    new = bumped_fees(old, 10 * GWEI, 2 * GWEI, CAPS)
    assert new is not None
    assert new.tip >= old.tip * 110 // 100
    assert new.max_fee >= old.max_fee * 110 // 100


def test_a_replacement_follows_a_risen_base_fee() -> None:
    new = bumped_fees(Fees(max_fee=3 * GWEI, tip=GWEI), 40 * GWEI, GWEI, CAPS)
    assert new is not None
    assert new.max_fee >= 80 * GWEI + new.tip


def test_no_replacement_when_the_caps_leave_no_valid_bump() -> None:
    assert bumped_fees(Fees(max_fee=100 * GWEI, tip=GWEI), 10 * GWEI, GWEI, CAPS) is None
    assert bumped_fees(Fees(max_fee=95 * GWEI, tip=GWEI), 10 * GWEI, GWEI, CAPS) is None
    assert bumped_fees(Fees(max_fee=20 * GWEI, tip=5 * GWEI), GWEI, GWEI, CAPS) is None


def test_a_zero_tip_still_gets_a_valid_replacement() -> None:
    new = bumped_fees(Fees(max_fee=GWEI, tip=0), GWEI // 2, 0, CAPS)
    assert new is not None
    assert new.tip >= 1
    assert new.max_fee >= GWEI * 110 // 100


@given(max_fee=st.integers(0, 10**14), tip=st.integers(0, 10**12), base=st.integers(0, 10**13),
       suggested=st.integers(0, 10**12), percent=st.integers(MIN_BUMP_PERCENT, 300),
       cap_fee=st.integers(1, 10**14), cap_tip=st.integers(0, 10**12))
def test_every_replacement_is_valid_and_within_the_caps(
        max_fee: int, tip: int, base: int, suggested: int, percent: int, cap_fee: int,
        cap_tip: int) -> None:
    tip = min(tip, max_fee)
    caps = FeeCaps(max_fee=cap_fee, tip=cap_tip, bump_percent=percent)
    new = bumped_fees(Fees(max_fee, tip), base, suggested, caps)
    if new is None:
        return
    assert new.max_fee <= cap_fee
    assert new.tip <= cap_tip
    assert new.tip <= new.max_fee
    # geth's rule: both at least 10% higher (rounded up), and the fee cap strictly higher.
    assert new.tip * 100 >= tip * 110
    assert new.max_fee * 100 >= max_fee * 110
    assert new.max_fee > max_fee


@given(base=st.integers(0, 10**13), suggested=st.integers(0, 10**12),
       cap_fee=st.integers(1, 10**14), cap_tip=st.integers(0, 10**12))
def test_initial_fees_never_exceed_the_caps(base: int, suggested: int, cap_fee: int,
                                            cap_tip: int) -> None:
    fees = initial_fees(base, suggested, FeeCaps(max_fee=cap_fee, tip=cap_tip))
    assert 0 <= fees.tip <= min(cap_tip, fees.max_fee)
    assert fees.max_fee <= cap_fee


# ---- nonces ----

@pytest.mark.parametrize(("pending", "recorded", "expected"), [
    (0, None, 0),        # a fresh account
    (5, None, 5),        # the key was used before us
    (5, 7, 8),           # ours in flight (the node may have dropped some): never reuse 6..7
    (9, 7, 9),           # someone else used the key since: skip what they took
])
def test_next_nonce(pending: int, recorded: int | None, expected: int) -> None:
    assert next_nonce(pending, recorded) == expected


def test_nonce_gaps() -> None:
    assert nonce_gaps(3, 7, {3, 4, 6}) == [5]
    assert nonce_gaps(3, 3, set()) == []


# ---- in flight ----

def step(flight: Flight, now: float = 100.0, mined: int = 0) -> Step:
    return flight_step(flight, mined_nonce=mined, now=now, replace_after=60, resend_after=15)


def test_a_used_nonce_means_look_for_receipts() -> None:
    assert step(Flight(4, 99.0, 99.0), mined=5) is Step.RECEIPT
    assert step(Flight(5, 0.0, None), mined=5) is Step.BROADCAST


def test_written_but_never_broadcast_is_broadcast() -> None:
    assert step(Flight(5, 99.0, None)) is Step.BROADCAST


def test_waiting_then_pool_check_then_replacement() -> None:
    assert step(Flight(5, 90.0, 90.0)) is Step.WAIT
    assert step(Flight(5, 80.0, 80.0)) is Step.CHECK_POOL
    assert step(Flight(5, 80.0, 80.0, checked_at=95.0)) is Step.WAIT
    assert step(Flight(5, 40.0, 40.0, checked_at=99.0)) is Step.REPLACE


@pytest.mark.parametrize(("statuses", "missing_for", "outcome"), [
    ([1], 0, Outcome.SUCCEEDED),
    ([None, 1], 0, Outcome.SUCCEEDED),       # the replacement was mined
    ([1, None], 0, Outcome.SUCCEEDED),       # the original was mined, not the replacement
    ([0], 0, Outcome.REVERTED),
    ([None, None], 1, Outcome.NOT_YET),      # a lagging node: wait before concluding
    ([None], 30, Outcome.NONCE_TAKEN),
])
def test_receipt_outcome(statuses: list[int | None], missing_for: float,
                         outcome: Outcome) -> None:
    assert receipt_outcome(statuses, missing_for=missing_for, nonce_taken_after=30) is outcome


# ---- exactly once ----

def test_dependencies() -> None:
    assert dependency_decision("invest", None).verdict is Verdict.SEND
    assert dependency_decision("issue", "succeeded").verdict is Verdict.SEND
    assert dependency_decision("issue", "in_flight").verdict is Verdict.WAIT
    assert dependency_decision("issue", "pending").verdict is Verdict.WAIT
    assert dependency_decision("issue", "reverted").verdict is Verdict.FAIL
    assert dependency_decision("refund", "reverted").verdict is Verdict.CANCEL


def test_invest_is_sent_only_when_the_chain_lacks_it() -> None:
    assert chain_decision("invest", ORDER, None, False).verdict is Verdict.SEND
    same = Order(1, ORDER.investor.lower(), 3000, 3)
    assert chain_decision("invest", ORDER, same, False).verdict is Verdict.DONE
    other = Order(1, ORDER.investor, 6000, 6)
    assert chain_decision("invest", ORDER, other, False).verdict is Verdict.FAIL


def test_issue_is_sent_only_for_a_recorded_unissued_order() -> None:
    assert chain_decision("issue", ORDER, ORDER, False).verdict is Verdict.SEND
    assert chain_decision("issue", ORDER, ORDER, True).verdict is Verdict.DONE
    assert chain_decision("issue", ORDER, None, False).verdict is Verdict.FAIL
    refunded = Order(1, ORDER.investor, 3000, 3, refunded=True)
    assert chain_decision("issue", ORDER, refunded, False).verdict is Verdict.CANCEL


def test_refund_only_of_what_is_recorded_and_not_refunded() -> None:
    assert chain_decision("refund", ORDER, ORDER, False).verdict is Verdict.SEND
    assert chain_decision("refund", ORDER, None, False).verdict is Verdict.CANCEL
    refunded = Order(1, ORDER.investor, 3000, 3, refunded=True)
    assert chain_decision("refund", ORDER, refunded, False).verdict is Verdict.DONE


def test_unknown_kind_fails() -> None:
    assert chain_decision("fill", ORDER, None, False).verdict is Verdict.FAIL


def test_a_revert_that_lost_a_race_to_ourselves_is_success() -> None:
    assert after_revert("issue", ORDER, True).verdict is Verdict.DONE
    assert after_revert("invest", ORDER, False).verdict is Verdict.DONE
    assert after_revert("invest", None, False).verdict is Verdict.FAIL
    assert after_revert("issue", ORDER, False).verdict is Verdict.FAIL
    refunded = Order(1, ORDER.investor, 3000, 3, refunded=True)
    assert after_revert("refund", refunded, False).verdict is Verdict.DONE
    assert after_revert("refund", ORDER, False).verdict is Verdict.FAIL

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
    Inclusion,
    Mined,
    MinedView,
    Outcome,
    Step,
    bumped_fees,
    flight_step,
    fresh_nonces,
    holes_behind,
    initial_fees,
    mined_step,
    receipt_outcome,
)
from dpo.sender.verdicts import Order, Verdict, after_revert, chain_decision, dependency_decision

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


@given(
    max_fee=st.integers(0, 10**14),
    tip=st.integers(0, 10**12),
    base=st.integers(0, 10**13),
    suggested=st.integers(0, 10**12),
    percent=st.integers(MIN_BUMP_PERCENT, 300),
    cap_fee=st.integers(1, 10**14),
    cap_tip=st.integers(0, 10**12),
)
def test_every_replacement_is_valid_and_within_the_caps(
    max_fee: int, tip: int, base: int, suggested: int, percent: int, cap_fee: int, cap_tip: int
) -> None:
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


@given(
    base=st.integers(0, 10**13),
    suggested=st.integers(0, 10**12),
    cap_fee=st.integers(1, 10**14),
    cap_tip=st.integers(0, 10**12),
)
def test_initial_fees_never_exceed_the_caps(
    base: int, suggested: int, cap_fee: int, cap_tip: int
) -> None:
    fees = initial_fees(base, suggested, FeeCaps(max_fee=cap_fee, tip=cap_tip))
    assert 0 <= fees.tip <= min(cap_tip, fees.max_fee)
    assert fees.max_fee <= cap_fee


# ---- nonces ----


@pytest.mark.parametrize(
    ("mined", "held", "expected"),
    [
        (5, set(), []),
        (5, {5, 6, 7}, []),
        (5, {6, 7}, [5]),  # a reorg freed 5 and ours wait behind it
        (5, {5, 8}, [6, 7]),
        (5, {5}, []),  # nothing waits behind the top: nothing to fill
    ],
)
def test_holes_behind(mined: int, held: set[int], expected: list[int]) -> None:
    assert holes_behind(mined, held) == expected


def test_a_fill_pending_again_is_not_sent_again() -> None:
    assert dependency_decision("fill", None).verdict is Verdict.CANCEL


@pytest.mark.parametrize(
    ("mined", "pending", "held", "count", "expected"),
    [
        (0, 0, set(), 2, [0, 1]),  # a fresh account
        (5, 5, set(), 1, [5]),  # the key was used before us
        (5, 5, {5, 6, 7}, 1, [8]),  # ours in flight (the node may have dropped some)
        (5, 9, {5, 6, 7}, 2, [8, 9]),  # pending beyond ours: 8 is pooled elsewhere (ours
        (9, 9, {5, 6, 7}, 1, [9]),  # before a reorg, or someone's): the hole goes first
        (5, 8, {6, 7}, 3, [5, 8, 9]),  # a reorg took 5: it is handed out again first
        (5, 5, {5, 7, 9}, 4, [6, 8, 10, 11]),  # holes lowest first, then past everything
        (5, 5, {7}, 1, [5]),  # only the lowest hole when one is asked for
        (5, 5, set(), 0, []),
    ],
)
def test_fresh_nonces(
    mined: int, pending: int, held: set[int], count: int, expected: list[int]
) -> None:
    assert fresh_nonces(count, chain_mined=mined, chain_pending=pending, held=held) == expected


@given(
    mined=st.integers(0, 50),
    extra=st.integers(0, 10),
    count=st.integers(0, 20),
    held=st.sets(st.integers(0, 80), max_size=20),
)
def test_fresh_nonces_never_reuse_and_leave_no_hole(
    mined: int, extra: int, count: int, held: set[int]
) -> None:
    held = {n for n in held if n >= mined}
    nonces = fresh_nonces(count, chain_mined=mined, chain_pending=mined + extra, held=held)
    assert len(nonces) == count == len(set(nonces))
    assert nonces == sorted(nonces)
    assert not set(nonces) & held
    assert all(n >= mined for n in nonces)
    if nonces:  # everything from the chain's count up to the last one handed out is ours
        assert set(range(mined, nonces[-1] + 1)) <= held | set(nonces)


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


@pytest.mark.parametrize(
    ("statuses", "missing_for", "outcome"),
    [
        ([1], 0, Outcome.SUCCEEDED),
        ([None, 1], 0, Outcome.SUCCEEDED),  # the replacement was mined
        ([1, None], 0, Outcome.SUCCEEDED),  # the original was mined, not the replacement
        ([0], 0, Outcome.REVERTED),
        ([None, None], 1, Outcome.NOT_YET),  # a lagging node: wait before concluding
        ([None], 30, Outcome.NONCE_TAKEN),
    ],
)
def test_receipt_outcome(statuses: list[int | None], missing_for: float, outcome: Outcome) -> None:
    assert receipt_outcome(statuses, missing_for=missing_for, nonce_taken_after=30) is outcome


# ---- exactly once ----


def test_dependencies() -> None:
    assert dependency_decision("invest", None).verdict is Verdict.SEND
    assert dependency_decision("issue", "succeeded").verdict is Verdict.SEND
    assert dependency_decision("issue", "mined").verdict is Verdict.SEND  # not its depth
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


def test_a_record_a_reorg_took_is_waited_for_not_given_up() -> None:
    # The invest is mined but the chain lacks the order: a reorg took it, it is sent again.
    waited = chain_decision("issue", ORDER, None, False, "mined")
    assert waited.verdict is Verdict.WAIT
    assert chain_decision("refund", ORDER, None, False, "mined").verdict is Verdict.WAIT
    assert chain_decision("issue", ORDER, None, False, "succeeded").verdict is Verdict.FAIL
    assert chain_decision("refund", ORDER, None, False, "succeeded").verdict is Verdict.CANCEL
    assert chain_decision("issue", ORDER, ORDER, False, "mined").verdict is Verdict.SEND
    assert chain_decision("issue", ORDER, ORDER, True, "mined").verdict is Verdict.DONE


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


# ---- mined: confirmations and reorgs ----

HERE = Inclusion(100, "0x" + "aa" * 32)
ELSEWHERE = Inclusion(101, "0x" + "bb" * 32)


def view(**changes: object) -> MinedView:
    fields: dict[str, object] = {
        "recorded": HERE,
        "receipt": HERE,
        "reverted": False,
        "canonical_hash": HERE.block_hash,
        "nonce_used": True,
        "listener_block": None,
    }
    fields.update(changes)
    return MinedView(**fields)  # type: ignore[arg-type]


def decide(mined: MinedView, head: int = 111, missing_for: float = 0.0) -> Mined:
    return mined_step(mined, head=head, confirmations=12, missing_for=missing_for, missing_after=30)


def test_a_receipt_is_final_only_at_depth_with_its_block_still_there() -> None:
    assert decide(view(), head=111) is Mined.WAIT  # 11 blocks on top
    assert decide(view(), head=112) is Mined.FINAL  # 12
    assert decide(view(canonical_hash=None), head=112) is Mined.WAIT  # height unread
    other = "0x" + "cc" * 32
    assert decide(view(canonical_hash=other), head=500) is Mined.WAIT  # answers disagree


def test_the_listeners_event_confirms_at_the_same_depth() -> None:
    lagging = view(receipt=None)  # our node has no receipt yet
    assert decide(lagging, head=112) is Mined.WAIT
    assert decide(view(receipt=None, listener_block=100), head=112) is Mined.FINAL
    assert decide(view(receipt=None, listener_block=105), head=112) is Mined.WAIT
    # Confirmed by the listener even where our receipt is gone (another version did it).
    assert decide(view(receipt=None, nonce_used=False, listener_block=90)) is Mined.FINAL


def test_a_receipt_a_reorg_moved_is_followed_and_counted_again() -> None:
    assert decide(view(receipt=ELSEWHERE), head=500) is Mined.MOVED
    same_height = Inclusion(100, "0x" + "dd" * 32)
    assert (
        decide(view(receipt=same_height, canonical_hash=same_height.block_hash), head=500)
        is Mined.MOVED
    )


def test_a_receipt_a_reorg_took_goes_back_to_the_chain_check() -> None:
    # The chain no longer counts our nonce: the block that held it is gone.
    assert decide(view(receipt=None, nonce_used=False)) is Mined.RECHECK
    assert decide(view(receipt=None, nonce_used=False, canonical_hash=None)) is Mined.RECHECK
    # Re-included after the reorg, but now it reverts: checked again, not counted as done.
    assert decide(view(receipt=None, reverted=True)) is Mined.RECHECK
    # Nonce used, no receipt: a lagging node for a while, then someone else's transaction.
    assert decide(view(receipt=None), missing_for=10) is Mined.WAIT
    assert decide(view(receipt=None), missing_for=30) is Mined.RECHECK


@given(
    depth=st.integers(0, 100),
    confirmations=st.integers(0, 64),
    same_hash=st.booleans(),
    receipt_kept=st.booleans(),
)
def test_nothing_is_final_before_its_confirmations(
    depth: int, confirmations: int, same_hash: bool, receipt_kept: bool
) -> None:
    mined = view(
        receipt=HERE if receipt_kept else None,
        canonical_hash=HERE.block_hash if same_hash else "0x" + "ee" * 32,
    )
    step = mined_step(
        mined,
        head=HERE.block_number + depth,
        confirmations=confirmations,
        missing_for=0,
        missing_after=30,
    )
    if step is Mined.FINAL:
        assert depth >= confirmations
        assert same_hash
        assert receipt_kept
    if depth >= confirmations and same_hash and receipt_kept:
        assert step is Mined.FINAL

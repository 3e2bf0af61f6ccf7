"""The order fold's transitions: each event's conditions as the per-event statements had them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from listener.projections_orders import Order, step

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 1, 2, tzinfo=UTC)
PAY, ISSUE = "0x" + "a" * 64, "0x" + "b" * 64


def order(
    state: str = "pending_payment",
    *,
    tx_hash: str | None = None,
    paid_at: datetime | None = None,
    issued_at: datetime | None = None,
) -> Order:
    return Order(1, state, tx_hash, paid_at, issued_at)


def columns(o: Order) -> tuple[object, ...]:
    return (o.state, o.tx_hash, o.paid_at, o.issued_at)


def test_received_pays_a_pending_order_only() -> None:
    o = order()
    assert step(o, "InvestmentReceived", PAY, T1, revert=False)
    assert columns(o) == ("paid", PAY, T1, None)
    assert o.changed
    assert not o.issued
    assert not step(o, "InvestmentReceived", PAY, T2, revert=False)  # already paid
    assert columns(o) == ("paid", PAY, T1, None)


def test_issued_keeps_the_payment_tx_and_marks_the_message() -> None:
    o = order()
    step(o, "InvestmentReceived", PAY, T1, revert=False)
    assert step(o, "Issued", ISSUE, T2, revert=False)
    assert columns(o) == ("issued", PAY, T1, T2)
    assert o.issued
    assert not step(o, "Issued", ISSUE, T2, revert=False)  # a second Issued matches nothing


def test_issued_without_payment_takes_its_own_tx() -> None:
    o = order()
    assert step(o, "Issued", ISSUE, T2, revert=False)
    assert columns(o) == ("issued", ISSUE, None, T2)
    # An InvestmentReceived after the issue matches nothing, as its statement did not.
    assert not step(o, "InvestmentReceived", PAY, T1, revert=False)


@pytest.mark.parametrize("state", ["paid", "issued"])
def test_refund_of_a_paid_or_issued_order(state: str) -> None:
    o = order(state)
    assert step(o, "InvestmentRefunded", PAY, T1, revert=False)
    assert o.state == "refunded"


@pytest.mark.parametrize("state", ["pending_payment", "cancelled", "refunded"])
def test_refund_of_other_states_matches_nothing(state: str) -> None:
    o = order(state)
    assert not step(o, "InvestmentRefunded", PAY, T1, revert=False)
    assert o.state == state
    assert not o.changed


def test_reverting_a_batch_newest_first_restores_the_order() -> None:
    o = order()
    forward = [
        ("InvestmentReceived", PAY, T1),
        ("Issued", ISSUE, T2),
        ("InvestmentRefunded", PAY, T2),
    ]
    for name, tx, when in forward:
        assert step(o, name, tx, when, revert=False)
    assert columns(o) == ("refunded", PAY, T1, T2)
    for name, tx, when in reversed(forward):
        assert step(o, name, tx, when, revert=True)
    assert columns(o) == ("pending_payment", None, None, None)
    undone = order("issued", issued_at=T2)
    assert step(undone, "Issued", ISSUE, T2, revert=True)
    assert not undone.issued  # a revert never queues a message


def test_reverting_a_payment_of_another_tx_matches_nothing() -> None:
    o = order("paid", tx_hash=PAY, paid_at=T1)
    assert not step(o, "InvestmentReceived", ISSUE, T1, revert=True)
    assert columns(o) == ("paid", PAY, T1, None)


def test_reverted_issue_keeps_a_payment_tx_and_drops_its_own() -> None:
    paid_first = order("issued", tx_hash=PAY, paid_at=T1, issued_at=T2)
    assert step(paid_first, "Issued", ISSUE, T2, revert=True)
    assert columns(paid_first) == ("paid", PAY, T1, None)
    issued_only = order("issued", tx_hash=ISSUE, issued_at=T2)
    assert step(issued_only, "Issued", ISSUE, T2, revert=True)
    assert columns(issued_only) == ("pending_payment", None, None, None)


def test_unrefund_goes_back_by_the_timestamps() -> None:
    assert step(o := order("refunded", issued_at=T2), "InvestmentRefunded", PAY, T1, revert=True)
    assert o.state == "issued"
    assert step(o := order("refunded", paid_at=T1), "InvestmentRefunded", PAY, T1, revert=True)
    assert o.state == "paid"
    assert step(o := order("refunded"), "InvestmentRefunded", PAY, T1, revert=True)
    assert o.state == "pending_payment"

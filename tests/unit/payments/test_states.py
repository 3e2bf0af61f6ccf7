"""The payment state machine: every (state, event) pair, and delivery order not mattering."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpo.db.models.enums import InvestmentState as S
from dpo.payments.events import PaymentEvent as E
from dpo.payments.states import Action, Outcome, after_expiry, decide, mismatch

TABLE = [
    (S.PENDING_PAYMENT, E.PAID, Outcome.APPLIED, S.PAID, Action.ISSUE),
    (S.PENDING_PAYMENT, E.FAILED, Outcome.APPLIED, S.CANCELLED, Action.NONE),
    (S.PENDING_PAYMENT, E.EXPIRED, Outcome.APPLIED, S.CANCELLED, Action.NONE),
    (S.PENDING_PAYMENT, E.REFUNDED, Outcome.APPLIED, S.REFUNDED, Action.NONE),
    (S.PAID, E.PAID, Outcome.IGNORED, None, Action.NONE),
    (S.PAID, E.FAILED, Outcome.IGNORED, None, Action.NONE),
    (S.PAID, E.EXPIRED, Outcome.IGNORED, None, Action.NONE),
    (S.PAID, E.REFUNDED, Outcome.APPLIED, S.REFUNDED, Action.REFUND),
    (S.ISSUED, E.PAID, Outcome.IGNORED, None, Action.NONE),
    (S.ISSUED, E.FAILED, Outcome.IGNORED, None, Action.NONE),
    (S.ISSUED, E.EXPIRED, Outcome.IGNORED, None, Action.NONE),
    (S.ISSUED, E.REFUNDED, Outcome.NEEDS_OPS, None, Action.NONE),
    (S.CANCELLED, E.PAID, Outcome.NEEDS_OPS, None, Action.NONE),
    (S.CANCELLED, E.FAILED, Outcome.IGNORED, None, Action.NONE),
    (S.CANCELLED, E.EXPIRED, Outcome.IGNORED, None, Action.NONE),
    (S.CANCELLED, E.REFUNDED, Outcome.APPLIED, S.REFUNDED, Action.NONE),
    (S.REFUNDED, E.PAID, Outcome.IGNORED, None, Action.NONE),
    (S.REFUNDED, E.FAILED, Outcome.IGNORED, None, Action.NONE),
    (S.REFUNDED, E.EXPIRED, Outcome.IGNORED, None, Action.NONE),
    (S.REFUNDED, E.REFUNDED, Outcome.IGNORED, None, Action.NONE),
]


@pytest.mark.parametrize(("state", "event", "outcome", "after", "action"), TABLE)
def test_every_pair(state: S, event: E, outcome: Outcome, after: S | None, action: Action) -> None:
    decision = decide(state, event)
    assert (decision.outcome, decision.state, decision.action) == (outcome, after, action)
    assert decision.reason
    assert not decision.needs_capacity


def test_the_table_covers_every_pair() -> None:
    assert {(row[0], row[1]) for row in TABLE} == set(itertools.product(S, E))


def test_paid_after_an_expiry_revives_the_order_if_the_cap_allows() -> None:
    decision = decide(S.CANCELLED, E.PAID, cancelled_by_payment=True)
    assert (decision.outcome, decision.state, decision.action) == (
        Outcome.APPLIED,
        S.PAID,
        Action.ISSUE,
    )
    assert decision.needs_capacity


@pytest.mark.parametrize("event", [E.FAILED, E.EXPIRED, E.REFUNDED])  # all but paid
def test_a_payment_cancellation_changes_nothing_else(event: E) -> None:
    assert decide(S.CANCELLED, event, cancelled_by_payment=True) == decide(S.CANCELLED, event)


class Order:
    """A simulated order driven by decide(), as the webhook service drives it."""

    def __init__(self) -> None:
        self.state = S.PENDING_PAYMENT
        self.by_payment = False
        self.actions: list[Action] = []

    def deliver(self, event: E) -> None:
        decision = decide(self.state, event, cancelled_by_payment=self.by_payment)
        if decision.state is not None:
            self.by_payment = decision.state is S.CANCELLED
            self.state = decision.state
        if decision.action is not Action.NONE:
            self.actions.append(decision.action)


PROVIDER_STORIES = [
    [E.PAID],
    [E.EXPIRED],
    [E.FAILED],
    [E.PAID, E.EXPIRED],
    [E.FAILED, E.PAID],
    [E.PAID, E.REFUNDED],
    [E.EXPIRED, E.PAID, E.REFUNDED],
]
END = {
    0: S.PAID,
    1: S.CANCELLED,
    2: S.CANCELLED,
    3: S.PAID,
    4: S.PAID,
    5: S.REFUNDED,
    6: S.REFUNDED,
}


@pytest.mark.parametrize("index", range(len(PROVIDER_STORIES)))
def test_the_end_state_does_not_depend_on_delivery_order(index: int) -> None:
    for order in itertools.permutations(PROVIDER_STORIES[index]):
        order_ = Order()
        for event in order:
            order_.deliver(event)
        assert order_.state is END[index], order


@given(st.lists(st.sampled_from([E.PAID, E.EXPIRED, E.FAILED]), min_size=1, max_size=12))
def test_a_paid_order_is_issued_exactly_once_whatever_the_deliveries(events: list[E]) -> None:
    order = Order()
    for event in events:
        order.deliver(event)
    if E.PAID in events:
        assert order.state is S.PAID
        assert order.actions.count(Action.ISSUE) == 1
    else:
        assert order.state is S.CANCELLED
        assert order.actions == []


@given(st.lists(st.sampled_from(list(E)), min_size=1, max_size=12))
def test_never_more_than_one_issue_or_refund_and_refund_only_after_issue(events: list[E]) -> None:
    order = Order()
    for event in events:
        order.deliver(event)
    assert order.actions.count(Action.ISSUE) <= 1
    assert order.actions.count(Action.REFUND) <= 1
    if Action.REFUND in order.actions:
        assert order.actions.index(Action.ISSUE) < order.actions.index(Action.REFUND)
    if E.REFUNDED in events:
        assert order.state is S.REFUNDED


def test_money_must_match() -> None:
    assert (
        mismatch(
            amount=Decimal("100"),
            currency="EUR",
            paid_amount=Decimal("100.00"),
            paid_currency="EUR",
        )
        is None
    )
    assert "amount" in (
        mismatch(
            amount=Decimal("100"), currency="EUR", paid_amount=Decimal("99.99"), paid_currency="EUR"
        )
        or ""
    )
    assert "currency" in (
        mismatch(
            amount=Decimal("100"), currency="EUR", paid_amount=Decimal("100"), paid_currency="USD"
        )
        or ""
    )


@pytest.mark.parametrize(
    ("remote", "event", "close"),
    [
        ("pending", E.EXPIRED, True),
        ("cancelled", E.EXPIRED, False),
        ("expired", E.EXPIRED, False),
        ("failed", E.FAILED, False),
        ("paid", E.PAID, False),
        ("refunded", E.REFUNDED, False),
    ],
)
def test_an_expired_order_gets_the_event_billbitts_status_amounts_to(
    remote: str, event: E, close: bool
) -> None:
    found = after_expiry(remote)
    assert (found.event, found.close_remote) == (event, close)


def test_paid_at_billbitts_never_cancels_a_pending_order() -> None:
    decision = decide(S.PENDING_PAYMENT, after_expiry("paid").event)
    assert decision.state is S.PAID
    # And a pending request expired by us is revived by a paid that comes later.
    expired = decide(S.PENDING_PAYMENT, after_expiry("pending").event)
    assert expired.state is S.CANCELLED
    revived = decide(S.CANCELLED, E.PAID, cancelled_by_payment=True)
    assert revived.state is S.PAID


def test_an_unknown_remote_status_is_refused() -> None:
    with pytest.raises(KeyError):
        after_expiry("on_hold")

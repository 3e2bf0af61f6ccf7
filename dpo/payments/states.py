"""What a payment event does to an order, whatever state it is in and whatever came before.

BillBitts delivers at least once and in any order, so every (state, event) pair has an
answer, and the answers make the end state independent of the delivery order:

| order \\ event     | paid                     | failed / expired | refunded                  |
| ---               | ---                      | ---              | ---                       |
| pending_payment   | paid + issue             | cancelled        | refunded (never issued)   |
| paid              | duplicate                | stale (ignored)  | refunded + chain refund   |
| issued            | duplicate                | stale (ignored)  | needs ops (tokens issued) |
| cancelled (by us) | needs ops: refund money  | duplicate        | refunded (nothing issued) |
| cancelled (by     | paid + issue, when the   | duplicate        | refunded (nothing issued) |
|  failed/expired)  |  hard cap still allows   |                  |                           |
| refunded          | stale (ignored)          | stale (ignored)  | duplicate                 |

Decisions:
- `paid` is final over `failed`/`expired`: money arrived, so a late "expired" (sent before
  the payment was seen, delivered after) never cancels a paid order.
- `paid` after a cancellation that a `failed`/`expired` event caused revives the order: the
  money is real and that event was stale (delivered out of order, or the payment settled at
  the last second), so the end state is the same in every delivery order. Only if the hard
  cap no longer has room (others took the place meanwhile) does it go to ops.
- `paid` after the investor cancelled does not revive the order: they chose to leave, and
  the money must go back. Ops is told (the delivery is kept as `failed` with the reason).
- `refunded` before `paid` arrives (reordered) ends the order `refunded`; the late `paid`
  then finds it refunded and does nothing, so nothing is issued for returned money.
- A refund of an issued order cannot be undone by us alone (the tokens are out): ops.
- An event whose amount or currency differs from the order's is not applied (ops).
- An order past its payment's expiry (plus PAYMENT_EXPIRY_GRACE_SECONDS) that BillBitts never
  announced is settled by asking BillBitts for the status and applying the event it amounts
  to (`after_expiry`), so it goes through this same table: a late `paid` webhook after that
  finds the order `cancelled by payment` and revives it, like any paid after an expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from dpo.db.models.enums import InvestmentState
from dpo.payments.events import PaymentEvent


class Outcome(StrEnum):
    """How a delivery ends (stored on webhook_deliveries.status)."""

    APPLIED = "processed"  # the order moved
    IGNORED = "ignored"  # nothing to do: a duplicate, a stale or unknown event
    NEEDS_OPS = "failed"  # valid, but a person must act (kept with its reason)


class Action(StrEnum):
    """The chain work a transition asks for, in the same transaction."""

    NONE = "none"
    ISSUE = "issue"  # record the order on the STO and issue the tokens
    REFUND = "refund"  # refund the recorded order on the STO


@dataclass(frozen=True)
class Decision:
    """The order's next state (None: unchanged), the chain action and why."""

    outcome: Outcome
    reason: str
    state: InvestmentState | None = None
    action: Action = Action.NONE
    # The transition holds only if the offering's hard cap still has room for the order.
    needs_capacity: bool = False


S = InvestmentState
E = PaymentEvent
_STOPPED = (E.FAILED, E.EXPIRED)


def decide(
    state: InvestmentState, event: PaymentEvent, *, cancelled_by_payment: bool = False
) -> Decision:
    """The transition for `event` arriving while the order is in `state`.

    `cancelled_by_payment`: a cancelled order was cancelled by a failed/expired event (not by
    the investor).
    """
    if state is S.PENDING_PAYMENT:
        if event is E.PAID:
            return Decision(Outcome.APPLIED, "paid", S.PAID, Action.ISSUE)
        if event in _STOPPED:
            return Decision(Outcome.APPLIED, f"payment {event.value.split('.')[1]}", S.CANCELLED)
        return Decision(Outcome.APPLIED, "refunded before the payment was seen", S.REFUNDED)
    if state is S.PAID:
        if event is E.REFUNDED:
            return Decision(Outcome.APPLIED, "refunded before issuance", S.REFUNDED, Action.REFUND)
        return Decision(
            Outcome.IGNORED, "duplicate" if event is E.PAID else "stale: the order is paid"
        )
    if state is S.ISSUED:
        if event is E.REFUNDED:
            return Decision(Outcome.NEEDS_OPS, "refunded after the tokens were issued")
        return Decision(
            Outcome.IGNORED, "duplicate" if event is E.PAID else "stale: the order is issued"
        )
    if state is S.CANCELLED:
        if event is E.PAID and cancelled_by_payment:
            return Decision(
                Outcome.APPLIED,
                "paid after a stale failure or expiry",
                S.PAID,
                Action.ISSUE,
                needs_capacity=True,
            )
        if event is E.PAID:
            return Decision(Outcome.NEEDS_OPS, "paid after the investor cancelled: refund it")
        if event is E.REFUNDED:
            # The money went back: final, so a paid delivered later cannot revive the order.
            return Decision(Outcome.APPLIED, "payment of a cancelled order refunded", S.REFUNDED)
        return Decision(Outcome.IGNORED, "duplicate: the order is cancelled")
    # Refunded is final.
    return Decision(
        Outcome.IGNORED, "duplicate" if event is E.REFUNDED else "stale: the order is refunded"
    )


def mismatch(
    *, amount: Decimal, currency: str, paid_amount: Decimal, paid_currency: str
) -> str | None:
    """Why a payment event's money does not fit the order, or None when it does."""
    if paid_currency != currency:
        return f"currency {paid_currency} differs from the order's {currency}"
    if paid_amount != amount:
        return f"amount {paid_amount} differs from the order's {amount}"
    return None


@dataclass(frozen=True)
class AfterExpiry:
    """What the expiry worker applies for BillBitts' answer about an expired order."""

    event: PaymentEvent
    close_remote: bool  # BillBitts still offers the page: cancel it there too


# BillBitts' status of a request past its expiry and grace. Paid, failed, expired and refunded
# are what its webhook would have said (late or lost): applied as that event, through the same
# table, so a payment that did arrive is never cancelled. Pending means BillBitts never
# expired it: we expire the order, as an `expired` event would, and close the page so nobody
# pays it afterwards. Cancelled (by our own earlier call) ends the order the same way.
_AFTER_EXPIRY = {
    "pending": AfterExpiry(E.EXPIRED, close_remote=True),
    "cancelled": AfterExpiry(E.EXPIRED, close_remote=False),
    "expired": AfterExpiry(E.EXPIRED, close_remote=False),
    "failed": AfterExpiry(E.FAILED, close_remote=False),
    "paid": AfterExpiry(E.PAID, close_remote=False),
    "refunded": AfterExpiry(E.REFUNDED, close_remote=False),
}


def after_expiry(remote_status: str) -> AfterExpiry:
    """The event an expired order gets for BillBitts' `remote_status` (KeyError: unknown)."""
    return _AFTER_EXPIRY[remote_status]

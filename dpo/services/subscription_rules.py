"""What an order must meet to be taken: its amount, the offering's window, the investor.

Pure checks of rows already loaded; each refusal names its field or reason. Decisions:
- The order's currency must equal the offering's; converting through FX rates would make the
  amount the investor pays depend on the day's rate, which the payment flow does not carry yet.
- Units are whole: an amount that is not a multiple of the unit price is refused rather than
  floored, so the money received and the units issued always agree with no leftover to refund.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext

from dpo.db.models import Investor, Offering
from dpo.db.models.enums import AccreditationStatus, KycStatus, OfferingStatus, Regulation
from dpo.errors import ConflictError, ForbiddenError, ValidationError

UNITS_PRECISION = 80  # digits for NUMERIC(38, 18) ÷ NUMERIC(38, 18), exactly


def check_amount(offering: Offering, amount: Decimal, currency: str) -> int:
    """Validate the amount against the offering's terms; return the units it buys."""
    try:
        finite = amount.is_finite()
    except (AttributeError, InvalidOperation):
        finite = False
    if not finite or amount <= 0:
        raise ValidationError(
            "the amount must be positive", field="amount", reason="amount_not_positive"
        )
    if currency != offering.currency:
        raise ValidationError(
            f"this offering takes {offering.currency} only",
            field="currency",
            reason="currency_mismatch",
            expected=offering.currency,
        )
    if offering.min_ticket is not None and amount < offering.min_ticket:
        raise ValidationError(
            f"the minimum ticket is {offering.min_ticket}",
            field="amount",
            reason="below_min_ticket",
            min_ticket=str(offering.min_ticket),
        )
    if offering.max_ticket is not None and amount > offering.max_ticket:
        raise ValidationError(
            f"the maximum ticket is {offering.max_ticket}",
            field="amount",
            reason="above_max_ticket",
            max_ticket=str(offering.max_ticket),
        )
    # Decimal's default 28 digits cannot hold 10**20 ÷ 10**-18 units: compute exactly.
    with localcontext(prec=UNITS_PRECISION):
        units, remainder = divmod(amount, offering.unit_price)
    if remainder != 0:
        raise ValidationError(
            f"the amount must be a whole number of units of {offering.unit_price}",
            field="amount",
            reason="fractional_units",
            unit_price=str(offering.unit_price),
        )
    return int(units)


def check_window(offering: Offering, now: datetime) -> None:
    """The offering is open for subscription now."""
    if offering.status != OfferingStatus.OPEN:
        raise ConflictError(
            "the offering is not open for subscription",
            reason="offering_not_open",
            status=offering.status,
        )
    if offering.opens_at is not None and now < offering.opens_at:
        raise ConflictError(
            "the offering has not opened yet",
            reason="not_yet_open",
            opens_at=offering.opens_at.isoformat(),
        )
    if offering.closes_at is not None and now >= offering.closes_at:
        raise ConflictError(
            "the offering has closed", reason="closed", closes_at=offering.closes_at.isoformat()
        )


def check_investor(investor: Investor, offering: Offering, now: datetime) -> None:
    """The investor may subscribe to this offering: KYC, accreditation, residence."""
    if investor.kyc_status != KycStatus.APPROVED:
        raise ForbiddenError(
            "your KYC check is not approved",
            reason="kyc_not_approved",
            kyc_status=investor.kyc_status,
        )
    if offering.regulation == Regulation.REG_D_506C:
        expires = investor.accreditation_expires_at
        if investor.accreditation_status != AccreditationStatus.VERIFIED or (
            expires is not None and expires <= now
        ):
            raise ForbiddenError(
                "this Reg D 506(c) offering needs a valid accreditation",
                reason="accreditation_required",
            )
    if offering.regulation == Regulation.REG_S and investor.is_us_person:
        raise ForbiddenError("this Reg S offering is closed to US persons", reason="us_person")
    if offering.allowed_countries and investor.country not in offering.allowed_countries:
        raise ForbiddenError(
            "this offering is not available in your country",
            reason="country_not_allowed",
            country=investor.country,
        )

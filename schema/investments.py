"""Investment (order) types and inputs."""

from __future__ import annotations

import datetime as dt
import decimal

import strawberry

from dpo.db.models import Investment as InvestmentRow
from schema.context import Info
from schema.enums import InvestmentState, PaymentStatus
from schema.offerings import Offering
from schema.relay import Node, to_global_id
from schema.scalars import BigInt, Bytes32, CurrencyCode


async def _offering(root: Investment, info: Info) -> Offering:
    row = await info.context.loaders.offering.load(root.offering_db_id)
    if row is None:  # the foreign key forbids it
        raise LookupError(f"offering {root.offering_db_id} of an investment is missing")
    return Offering.from_row(row)


@strawberry.type(description="An investor's order in an offering.")
class Investment(Node):
    id: strawberry.ID
    investor_id: strawberry.ID
    offering_id: strawberry.ID
    amount: decimal.Decimal
    currency: CurrencyCode
    units: BigInt
    state: InvestmentState
    payment_reference: str = strawberry.field(
        description="Quote it with the bank transfer so the payment is matched to the order."
    )
    tx_hash: Bytes32 | None
    paid_at: dt.datetime | None
    issued_at: dt.datetime | None
    created_at: dt.datetime
    payment_id: str | None = strawberry.field(
        description="BillBitts' id of the payment request; null until it exists."
    )
    payment_url: str | None = strawberry.field(
        description="The hosted page where the order is paid; null until the payment request "
        "exists (BillBitts unreachable at submit time: it follows, and "
        "subscribers are told)."
    )
    payment_expires_at: dt.datetime | None = strawberry.field(
        description="When the payment page expires (the order is then cancelled)."
    )
    payment_status: PaymentStatus | None = strawberry.field(
        description="BillBitts' view of the payment; null until the payment request exists."
    )
    offering_db_id: strawberry.Private[int]
    offering: Offering = strawberry.field(
        resolver=_offering, description="The offering ordered in."
    )

    @classmethod
    def from_row(cls, row: InvestmentRow) -> Investment:
        """The API view of an order."""
        return cls(
            id=to_global_id("Investment", row.id),
            investor_id=to_global_id("Investor", row.investor_id),
            offering_id=to_global_id("Offering", row.offering_id),
            amount=row.amount,
            currency=CurrencyCode(row.currency),
            units=BigInt(row.units),
            state=InvestmentState(row.state),
            payment_reference=row.payment_reference,
            tx_hash=Bytes32(row.tx_hash) if row.tx_hash else None,
            paid_at=row.paid_at,
            issued_at=row.issued_at,
            created_at=row.created_at,
            offering_db_id=row.offering_id,
            payment_id=row.payment_id,
            payment_url=row.payment_url,
            payment_expires_at=row.payment_expires_at,
            payment_status=PaymentStatus(row.payment_status) if row.payment_status else None,
        )


@strawberry.input(description="An order: whole units only, in the offering's currency.")
class SubmitInvestmentInput:
    offering_id: strawberry.ID
    amount: decimal.Decimal
    currency: CurrencyCode

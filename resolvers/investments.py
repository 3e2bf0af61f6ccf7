"""Investment queries and mutations: thin wrappers over dpo.services.investments."""

from __future__ import annotations

import strawberry

from dpo.db.models import Investment as InvestmentRow
from dpo.db.session import unit_of_work
from dpo.errors import DomainError
from dpo.payments.remote_cancel import cancel_now, owe_cancel
from dpo.payments.requests import request_now
from dpo.payments.webhooks import notify_order
from dpo.services import investments
from schema.context import Info
from schema.enums import InvestmentState
from schema.investments import (
    Investment,
    SubmitInvestmentInput,
)
from schema.relay import Connection, connection_of, from_global_id
from schema.scalars import Bytes32


def _optional_id(value: strawberry.ID | None, expect: str, field: str) -> int | None:
    return None if value is None else from_global_id(value, expect=expect, field=field)[1]


async def resolve_investment_node(info: Info, db_id: int) -> Investment | None:
    """`node(id)` for orders: null when unknown or not visible."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await investments.get_investment(
                session, principal=info.context.principal, investment_id=db_id
            )
        except DomainError:
            return None
        return Investment.from_row(row)


async def resolve_investments(
    info: Info,
    offering_id: strawberry.ID | None = None,
    investor_id: strawberry.ID | None = None,
    state: InvestmentState | None = None,
    tx_hash: Bytes32 | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Investment]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    offering = _optional_id(offering_id, "Offering", "offeringId")
    investor = _optional_id(investor_id, "Investor", "investorId")
    async with sessions() as session:
        page = await investments.list_investments(
            session,
            principal=principal,
            offering_id=offering,
            investor_id=investor,
            state=state,
            tx_hash=tx_hash,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with sessions() as session:
            return await investments.count_investments(
                session,
                principal=principal,
                offering_id=offering,
                investor_id=investor,
                state=state,
                tx_hash=tx_hash,
            )

    return connection_of(page, [Investment.from_row(r) for r in page.rows], total)


@strawberry.type
class InvestmentQuery:
    investments: Connection[Investment] = strawberry.field(
        resolver=resolve_investments,
        description="Orders: your own, your offerings' (issuers), or all (staff); `txHash` "
        "finds the order a transaction paid or issued.",
    )


async def resolve_submit_investment(info: Info, input: SubmitInvestmentInput) -> Investment:
    offering = from_global_id(input.offering_id, expect="Offering", field="offeringId")[1]
    runtime = info.context.runtime
    async with unit_of_work(runtime.sessions) as session:
        row = await investments.submit_investment(
            session,
            principal=info.context.principal,
            offering_id=offering,
            amount=input.amount,
            currency=input.currency,
        )
    # The order is committed; its payment page follows now, or later (dpo.payments.requests).
    await request_now(
        runtime.sessions,
        runtime.billbitts,
        row.id,
        expiry_seconds=runtime.settings.payment_expiry_seconds,
    )
    async with runtime.sessions() as session:
        fresh = await session.get(InvestmentRow, row.id)
    return Investment.from_row(fresh or row)


async def resolve_cancel_investment(info: Info, id: strawberry.ID) -> Investment:
    target = from_global_id(id, expect="Investment")[1]
    runtime = info.context.runtime
    async with unit_of_work(runtime.sessions) as session:
        row = await investments.cancel_investment(
            session, principal=info.context.principal, investment_id=target
        )
        # With the cancel: its BillBitts page is owed a cancel, the investor a message.
        remote = owe_cancel(row)
        await notify_order(session, row, "investment_cancelled", reason="cancelled by you")
    if remote and row.payment_id is not None:
        # Committed; BillBitts follows now, or the payment worker retries (remote_cancel).
        await cancel_now(runtime.sessions, runtime.billbitts, row.id, row.payment_id)
    return Investment.from_row(row)


@strawberry.type
class InvestmentMutation:
    submit_investment: Investment = strawberry.mutation(
        resolver=resolve_submit_investment,
        description="Place an order; refused with the rule it breaks.",
    )
    cancel_investment: Investment = strawberry.mutation(
        resolver=resolve_cancel_investment,
        description="Cancel your own order while it awaits payment; its BillBitts payment "
        "page is closed too (later, by the payment worker, if BillBitts is down). "
        "CONFLICT once the order is paid.",
    )

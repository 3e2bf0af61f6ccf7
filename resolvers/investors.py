"""Investor queries and mutations: thin wrappers over dpo.services.investors and
investor_queries."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.db.session import unit_of_work
from dpo.errors import DomainError
from dpo.services import investor_queries, investors
from schema.context import Info
from schema.enums import AccreditationStatus, KycStatus
from schema.investors import (
    Investor,
    RegisterInvestorInput,
    UpdateProfileInput,
)
from schema.relay import Connection, connection_of, from_global_id


def investor_id(value: strawberry.ID, field: str = "id") -> int:
    """The database id of an Investor global id."""
    return from_global_id(value, expect="Investor", field=field)[1]


async def resolve_investor_node(info: Info, db_id: int) -> Investor | None:
    """`node(id)` for investors: null when unknown or not visible."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await investor_queries.get_investor(
                session, principal=info.context.principal, investor_id=db_id
            )
        except DomainError:
            return None
        return Investor.from_row(row)


async def resolve_investors(
    info: Info,
    kyc_status: KycStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Investor]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    status = kyc_status
    async with sessions() as session:
        page = await investor_queries.list_investors(
            session,
            principal=principal,
            kyc_status=status,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with sessions() as session:
            return await investor_queries.count_investors(
                session, principal=principal, kyc_status=status
            )

    return connection_of(page, [Investor.from_row(r) for r in page.rows], total)


async def resolve_investor(info: Info, id: strawberry.ID) -> Investor:
    async with info.context.runtime.sessions() as session:
        row = await investor_queries.get_investor(
            session, principal=info.context.principal, investor_id=investor_id(id)
        )
        return Investor.from_row(row)


async def resolve_me(info: Info) -> Investor | None:
    async with info.context.runtime.sessions() as session:
        row = await investor_queries.get_me(session, principal=info.context.principal)
        return Investor.from_row(row) if row is not None else None


@strawberry.type
class InvestorQuery:
    investors: Connection[Investor] = strawberry.field(
        resolver=resolve_investors,
        description="Investors you may see: all for staff, your own otherwise.",
    )
    investor: Investor = strawberry.field(
        resolver=resolve_investor, description="One investor by id."
    )
    me: Investor | None = strawberry.field(
        resolver=resolve_me, description="Your investor profile; null until your wallet registers."
    )


async def resolve_register_investor(info: Info, input: RegisterInvestorInput) -> Investor:
    runtime = info.context.runtime
    async with unit_of_work(runtime.sessions) as session:
        row = await investors.register_investor(
            session,
            principal=info.context.principal,
            full_name=input.full_name,
            email=input.email,
            country=input.country,
            is_us_person=input.is_us_person,
            chain_id=runtime.settings.chain_id,
        )
    return Investor.from_row(row)


async def resolve_update_profile(info: Info, input: UpdateProfileInput) -> Investor:
    async with unit_of_work(info.context.runtime.sessions) as session:
        row = await investors.update_profile(
            session,
            principal=info.context.principal,
            full_name=input.full_name,
            email=input.email,
            country=input.country,
            is_us_person=input.is_us_person,
        )
    return Investor.from_row(row)


async def resolve_approve_kyc(
    info: Info, investor_id: strawberry.ID, status: KycStatus = KycStatus.APPROVED
) -> Investor:
    target = from_global_id(investor_id, expect="Investor", field="investorId")[1]
    async with unit_of_work(info.context.runtime.sessions) as session:
        row = await investors.approve_kyc(
            session, principal=info.context.principal, investor_id=target, status=status
        )
    return Investor.from_row(row)


async def resolve_set_accreditation(
    info: Info,
    investor_id: strawberry.ID,
    status: AccreditationStatus,
    expires_at: dt.datetime | None = None,
) -> Investor:
    target = from_global_id(investor_id, expect="Investor", field="investorId")[1]
    async with unit_of_work(info.context.runtime.sessions) as session:
        row = await investors.set_accreditation(
            session,
            principal=info.context.principal,
            investor_id=target,
            status=status,
            expires_at=expires_at,
        )
    return Investor.from_row(row)


@strawberry.type
class InvestorMutation:
    register_investor: Investor = strawberry.mutation(
        resolver=resolve_register_investor,
        description="Register the signed-in wallet as an investor.",
    )
    update_profile: Investor = strawberry.mutation(
        resolver=resolve_update_profile, description="Change your own profile."
    )
    approve_kyc: Investor = strawberry.mutation(
        resolver=resolve_approve_kyc, description="Record a KYC decision (admin)."
    )
    set_accreditation: Investor = strawberry.mutation(
        resolver=resolve_set_accreditation, description="Record an accreditation outcome (admin)."
    )

"""Issuer queries and the settlement mutation: parse, call dpo.services, map the result."""

from __future__ import annotations

import strawberry

from dpo.db.session import unit_of_work
from dpo.services import issuers, offering_changes
from schema.context import Info
from schema.errors import request_id_of
from schema.offerings import Issuer, Offering
from schema.relay import Connection, connection_of, from_global_id


async def resolve_issuers(
    info: Info,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Issuer]:
    """A page of the issuers the caller may know of, by name."""
    principal, loaders = info.context.principal, info.context.loaders
    async with loaders.session() as session:
        page = await issuers.list_issuers(
            session,
            principal=principal,
            search=search,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with loaders.session() as session:
            return await issuers.count_issuers(session, principal=principal, search=search)

    return connection_of(page, [Issuer.from_row(row) for row in page.rows], total)


async def resolve_issuer(info: Info, id: strawberry.ID) -> Issuer:
    """One issuer by global id; NOT_FOUND when absent or hidden."""
    db_id = from_global_id(id, expect="Issuer")[1]
    async with info.context.loaders.session() as session:
        row = await issuers.get_issuer(session, principal=info.context.principal, issuer_id=db_id)
    return Issuer.from_row(row)


@strawberry.type
class IssuerQuery:
    issuers: Connection[Issuer] = strawberry.field(
        resolver=resolve_issuers,
        description="Issuers you may know of: all (staff), your own and those with offerings "
        "you may see.",
    )
    issuer: Issuer = strawberry.field(resolver=resolve_issuer, description="One issuer by id.")


async def resolve_settle_offering(info: Info, id: strawberry.ID) -> Offering:
    """Closed → settled, once its orders match on-chain issuance."""
    offering_id = from_global_id(id, expect="Offering")[1]
    async with unit_of_work(info.context.runtime.sessions) as session:
        row = await offering_changes.settle_offering(
            session,
            principal=info.context.principal,
            offering_id=offering_id,
            request_id=request_id_of(info.context),
        )
    return Offering.from_row(row)


@strawberry.type
class SettlementMutation:
    settle_offering: Offering = strawberry.mutation(
        resolver=resolve_settle_offering,
        description="Issuer staff or admin: a closed offering whose orders were all issued on "
        "chain becomes settled; CONFLICT with a reason otherwise.",
    )

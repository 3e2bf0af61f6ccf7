"""Offering queries and mutations: parse the input, call dpo.services.offerings, map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from dpo.db.models import Offering as OfferingRow
from dpo.db.raw_reads import Reads
from dpo.db.session import unit_of_work
from dpo.errors import DomainError, ValidationError
from dpo.services import issuers, offering_changes, offering_detail, offering_pages, offerings
from schema.context import Info
from schema.errors import request_id_of
from schema.offerings import (
    CreateOfferingInput,
    Issuer,
    Offering,
    OfferingFilter,
    OfferingOrderBy,
    OfferingTotals,
    UpdateOfferingInput,
)
from schema.relay import Connection, SortDirection, connection_of, from_global_id
from schema.scalars import ISIN
from schema.selection import selects


def _core_filter(where: OfferingFilter | None) -> offerings.OfferingFilter | None:
    if where is None:
        return None
    issuer_id = (
        from_global_id(where.issuer_id, expect="Issuer", field="issuerId")[1]
        if where.issuer_id is not None
        else None
    )
    return offerings.OfferingFilter(
        status=where.status.value if where.status else None,
        issuer_id=issuer_id,
        regulation=where.regulation.value if where.regulation else None,
        currency=where.currency,
        search=where.search,
        token_address=where.token_address,
        onchain_offering_id=where.onchain_offering_id,
    )


async def resolve_offerings(
    info: Info,
    filter: OfferingFilter | None = None,
    order_by: OfferingOrderBy | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Offering]:
    """A page of the offerings the caller may see."""
    principal, loaders = info.context.principal, info.context.loaders
    where = _core_filter(filter)
    order = order_by or OfferingOrderBy()
    # Asked for totalCount: it comes with the page's statement (one round trip less).
    with_count = selects(info, "totalCount")
    # The request's connection (page, count and loader batches use one), raw reads only.
    async with loaders.reads() as reads:
        page = await offering_pages.list_offerings(
            reads,
            principal=principal,
            filter=where,
            order_by=order.field,
            descending=order.direction is SortDirection.DESC,
            first=first,
            after=after,
            last=last,
            before=before,
            with_count=with_count,
        )
        nodes = [Offering.from_row(row) for row in page.rows]
        await _preload(info, reads, nodes, "edges", "node")
    known = offerings.counted(page) if with_count else None

    async def count() -> int:
        async with loaders.session() as session:
            return await offerings.count_offerings(session, principal=principal, filter=where)

    def total() -> Awaitable[int] | int:
        return count() if known is None else known

    return connection_of(page, nodes, total)


async def resolve_offering(
    info: Info, id: strawberry.ID | None = None, isin: ISIN | None = None
) -> Offering | None:
    """One offering by global id or ISIN; NOT_FOUND when absent or hidden."""
    db_id = from_global_id(id, expect="Offering")[1] if id is not None else None
    principal, loaders = info.context.principal, info.context.loaders
    if not (selects(info, "issuer") or selects(info, "totals")):
        async with loaders.session() as session:
            return Offering.from_row(
                await offerings.get_offering(session, principal=principal, id=db_id, isin=isin)
            )
    # A detail page: the offering, its issuer and its totals in one statement (a raw read).
    async with loaders.reads() as reads:
        detail = await offering_detail.get_offering_detail(
            reads, principal=principal, id=db_id, isin=isin
        )
    node = Offering.from_row(detail.offering)
    node.loaded_issuer = None if detail.issuer is None else Issuer.from_row(detail.issuer)
    node.loaded_totals = OfferingTotals.of(detail.totals)
    return node


async def _preload(info: Info, reads: Reads, nodes: list[Offering], *path: str) -> None:
    """Read the issuers and totals of all `nodes` at once, if the query asks for them.

    One statement for both (the DataLoaders would send one each), and the fields then
    resolve as plain values (schema.selection): no future and coroutine per node for
    graphql-core to gather. Anything not found is left to the fields' loaders.
    """
    issuer, totals = selects(info, *path, "issuer"), selects(info, *path, "totals")
    if not nodes or not (issuer or totals):
        return
    # Both in one statement (one round trip) even when only one is asked for.
    relations = await offering_detail.list_offering_relations(
        reads, offering_ids=[node.db_id for node in nodes]
    )
    issuers: dict[int, Issuer] = {}
    for node in nodes:
        if node.db_id not in relations:
            continue
        found, committed = relations[node.db_id]
        if issuer and found is not None:
            if found.id not in issuers:
                issuers[found.id] = Issuer.from_row(found)
            node.loaded_issuer = issuers[found.id]
        if totals:
            node.loaded_totals = OfferingTotals.of(committed)


async def resolve_offering_node(info: Info, db_id: int) -> Offering | None:
    """`node(id)` for offerings: null when unknown or hidden."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await offerings.get_offering(session, principal=info.context.principal, id=db_id)
        except DomainError:
            return None
    return Offering.from_row(row)


async def resolve_issuer_node(info: Info, db_id: int) -> Issuer | None:
    """`node(id)` for issuers: null when unknown or hidden."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await issuers.get_issuer(
                session, principal=info.context.principal, issuer_id=db_id
            )
        except DomainError:
            return None
    return Issuer.from_row(row)


@strawberry.type
class OfferingQuery:
    offerings: Connection[Offering] = strawberry.field(
        resolver=resolve_offerings,
        description="Offerings you may see: open ones, plus your own (issuers), or all (staff).",
    )
    offering: Offering | None = strawberry.field(
        resolver=resolve_offering, description="One offering by id or ISIN (give exactly one)."
    )


def _fields(data: object, *, skip: tuple[str, ...]) -> dict[str, Any]:
    """Input fields that were given, enums as their values."""
    given: dict[str, Any] = {}
    for name, value in vars(data).items():
        if name in skip or value is strawberry.UNSET:
            continue
        given[name] = getattr(value, "value", value) if not isinstance(value, str) else value
    return given


async def _mutate(
    info: Info, run: Callable[..., Awaitable[OfferingRow]], **kwargs: Any
) -> Offering:
    async with unit_of_work(info.context.runtime.sessions) as session:
        row = await run(
            session,
            principal=info.context.principal,
            request_id=request_id_of(info.context),
            **kwargs,
        )
    return Offering.from_row(row)


async def resolve_create_offering(info: Info, input: CreateOfferingInput) -> Offering:
    """A new draft offering."""
    issuer_id = from_global_id(input.issuer_id, expect="Issuer", field="issuerId")[1]
    return await _mutate(
        info,
        offering_changes.create_offering,
        issuer_id=issuer_id,
        fields=_fields(input, skip=("issuer_id",)),
    )


async def resolve_update_offering(info: Info, input: UpdateOfferingInput) -> Offering:
    """Change a draft."""
    offering_id = from_global_id(input.id, expect="Offering")[1]
    changes = _fields(input, skip=("id",))
    if not changes:
        raise ValidationError("nothing to change", field="input")
    return await _mutate(
        info, offering_changes.update_offering, offering_id=offering_id, changes=changes
    )


async def resolve_open_offering(info: Info, id: strawberry.ID) -> Offering:
    """Draft → open."""
    return await _mutate(
        info, offering_changes.open_offering, offering_id=from_global_id(id, expect="Offering")[1]
    )


async def resolve_close_offering(info: Info, id: strawberry.ID) -> Offering:
    """Open → closed."""
    return await _mutate(
        info, offering_changes.close_offering, offering_id=from_global_id(id, expect="Offering")[1]
    )


async def resolve_cancel_offering(info: Info, id: strawberry.ID) -> Offering:
    """Draft, open or closed → cancelled."""
    return await _mutate(
        info, offering_changes.cancel_offering, offering_id=from_global_id(id, expect="Offering")[1]
    )


@strawberry.type
class OfferingMutation:
    create_offering: Offering = strawberry.mutation(
        resolver=resolve_create_offering, description="Issuer staff or admin: a new draft."
    )
    update_offering: Offering = strawberry.mutation(
        resolver=resolve_update_offering, description="Change a draft; refused once opened."
    )
    open_offering: Offering = strawberry.mutation(
        resolver=resolve_open_offering, description="Start taking subscriptions."
    )
    close_offering: Offering = strawberry.mutation(
        resolver=resolve_close_offering, description="Stop taking subscriptions."
    )
    cancel_offering: Offering = strawberry.mutation(
        resolver=resolve_cancel_offering, description="Call the offering off."
    )

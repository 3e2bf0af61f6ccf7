"""Offering and issuer types, filters, orderings and mutation inputs."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, cast

import strawberry
from sqlalchemy import Row

from dpo.db.models import Issuer as IssuerRow
from dpo.db.models import Offering as OfferingRow
from dpo.services.issuers import OfferingPageSpec
from dpo.services.offering_detail import IssuerFields
from dpo.services.offerings import OfferingTotals as CoreTotals
from schema.context import Info
from schema.enums import OfferingSortField, OfferingStatus, Regulation, SecurityType
from schema.preloaded import preloaded
from schema.relay import Connection, Node, SortDirection, connection_of, to_global_id
from schema.scalars import ISIN, Address, BigInt, CurrencyCode


@strawberry.type(description="What investors have committed to an offering so far.")
class OfferingTotals:
    investments_count: int
    investors_count: int
    amount_committed: decimal.Decimal

    @classmethod
    def of(cls, totals: CoreTotals) -> OfferingTotals:
        """The API view of the core's totals."""
        return cls(
            investments_count=totals.investments_count,
            investors_count=totals.investors_count,
            amount_committed=totals.amount_committed,
        )


@strawberry.input(description="Conditions that must all hold.")
class OfferingFilter:
    status: OfferingStatus | None = None
    issuer_id: strawberry.ID | None = None
    regulation: Regulation | None = None
    currency: CurrencyCode | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the name or ISIN, case-insensitive."
    )
    token_address: Address | None = None
    onchain_offering_id: BigInt | None = None


@strawberry.input(description="How to sort offerings.")
class OfferingOrderBy:
    field: OfferingSortField = OfferingSortField.CREATED_AT
    direction: SortDirection = SortDirection.ASC


@strawberry.input(description="A new offering; it starts as a draft.")
class CreateOfferingInput:
    issuer_id: strawberry.ID
    name: str
    symbol: str
    security_type: SecurityType
    regulation: Regulation
    currency: CurrencyCode
    unit_price: decimal.Decimal
    description: str | None = None
    min_ticket: decimal.Decimal | None = None
    max_ticket: decimal.Decimal | None = None
    soft_cap: decimal.Decimal | None = None
    hard_cap: decimal.Decimal | None = None
    opens_at: dt.datetime | None = None
    closes_at: dt.datetime | None = None
    allowed_countries: list[str] | None = None
    isin: ISIN | None = strawberry.field(
        default=None,
        description=(
            "Leave out to have one requested from Clearstream's primary-market issuance desk "
            "(the sync_csd job); an offering opens only once it has one."
        ),
    )


@strawberry.input(description="Changes to a draft offering; omitted fields stay as they are.")
class UpdateOfferingInput:
    id: strawberry.ID
    isin: ISIN | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    symbol: str | None = strawberry.UNSET
    security_type: SecurityType | None = strawberry.UNSET
    regulation: Regulation | None = strawberry.UNSET
    currency: CurrencyCode | None = strawberry.UNSET
    unit_price: decimal.Decimal | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    min_ticket: decimal.Decimal | None = strawberry.UNSET
    max_ticket: decimal.Decimal | None = strawberry.UNSET
    soft_cap: decimal.Decimal | None = strawberry.UNSET
    hard_cap: decimal.Decimal | None = strawberry.UNSET
    opens_at: dt.datetime | None = strawberry.UNSET
    closes_at: dt.datetime | None = strawberry.UNSET
    allowed_countries: list[str] | None = strawberry.UNSET


# Plain functions, not coroutines: when the page's resolver read the relation for the whole
# page (it knew it was asked for), the value is returned as is and graphql-core completes it
# without scheduling anything; otherwise the loading coroutine is returned, which graphql-core
# awaits as it awaits any awaitable a resolver returns (hence the casts).
@preloaded("loaded_issuer")
def _issuer(root: Offering, info: Info) -> Issuer:
    if root.loaded_issuer is not None:
        return root.loaded_issuer
    return cast("Issuer", _load_issuer(root, info))


async def _load_issuer(root: Offering, info: Info) -> Issuer:
    row = await info.context.loaders.issuer.load(root.issuer_db_id)
    if row is None:  # the foreign key makes this a bug, not a client error
        raise LookupError(f"issuer {root.issuer_db_id} of offering {root.db_id} is missing")
    return Issuer.from_row(row)


@preloaded("loaded_totals")
def _totals(root: Offering, info: Info) -> OfferingTotals:
    if root.loaded_totals is not None:
        return root.loaded_totals
    return cast("OfferingTotals", _load_totals(root, info))


async def _load_totals(root: Offering, info: Info) -> OfferingTotals:
    return OfferingTotals.of(await info.context.loaders.offering_totals.load(root.db_id))


@strawberry.type(description="A security offered for subscription.")
class Offering(Node):
    id: strawberry.ID
    isin: ISIN | None = strawberry.field(
        description=("Null until Clearstream allocates one (requested by the sync_csd job).")
    )
    name: str
    symbol: str
    description: str | None
    security_type: SecurityType
    regulation: Regulation
    currency: CurrencyCode
    unit_price: decimal.Decimal
    min_ticket: decimal.Decimal | None
    max_ticket: decimal.Decimal | None
    soft_cap: decimal.Decimal | None
    hard_cap: decimal.Decimal | None
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    status: OfferingStatus
    token_address: Address | None
    onchain_offering_id: BigInt | None
    amount_raised: decimal.Decimal
    units_sold: BigInt
    allowed_countries: list[str]
    created_at: dt.datetime
    db_id: strawberry.Private[int]
    issuer_db_id: strawberry.Private[int]
    issuer: Issuer = strawberry.field(
        resolver=_issuer, description="The company making the offering."
    )
    totals: OfferingTotals = strawberry.field(
        resolver=_totals, description="Investments committed so far, cancelled excluded."
    )
    # Set by a resolver that read them for a whole page (resolvers/offerings.py); None: the
    # fields load them through the request's DataLoaders.
    loaded_issuer: strawberry.Private[Issuer | None] = None
    loaded_totals: strawberry.Private[OfferingTotals | None] = None

    @classmethod
    def from_row(cls, row: OfferingRow | Row[Any]) -> Offering:
        """The API view of an offering; the ORM object never leaves the resolvers."""
        return cls(
            id=to_global_id("Offering", row.id),
            isin=ISIN(row.isin) if row.isin else None,
            name=row.name,
            symbol=row.symbol,
            description=row.description,
            security_type=SecurityType(row.security_type),
            regulation=Regulation(row.regulation),
            currency=CurrencyCode(row.currency),
            unit_price=row.unit_price,
            min_ticket=row.min_ticket,
            max_ticket=row.max_ticket,
            soft_cap=row.soft_cap,
            hard_cap=row.hard_cap,
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            status=OfferingStatus(row.status),
            token_address=Address(row.token_address) if row.token_address else None,
            onchain_offering_id=(
                BigInt(row.onchain_offering_id) if row.onchain_offering_id is not None else None
            ),
            amount_raised=row.amount_raised,
            units_sold=BigInt(row.units_sold),
            allowed_countries=list(row.allowed_countries),
            created_at=row.created_at,
            db_id=row.id,
            issuer_db_id=row.issuer_id,
        )


async def _issuer_offerings(
    root: Issuer,
    info: Info,
    status: OfferingStatus | None = None,
    order_by: OfferingOrderBy | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Offering]:
    order = order_by or OfferingOrderBy()
    spec = OfferingPageSpec(
        status=status.value if status else None,
        order_by=order.field,
        descending=order.direction is SortDirection.DESC,
        first=first,
        after=after,
        last=last,
        before=before,
    )
    loaders, principal = info.context.loaders.issuer_offerings, info.context.principal
    page = await loaders.pages.load((root.db_id, spec, principal))

    async def total() -> int:
        return await loaders.counts.load((root.db_id, spec.status, principal))

    return connection_of(page, [Offering.from_row(row) for row in page.rows], total)


@strawberry.type(description="A company raising money through offerings.")
class Issuer(Node):
    id: strawberry.ID
    name: str
    country: str | None
    website: str | None
    db_id: strawberry.Private[int]
    offerings: Connection[Offering] = strawberry.field(
        resolver=_issuer_offerings,
        description="Its offerings you may see, as the `offerings` query shows them.",
    )

    @classmethod
    def from_row(cls, row: IssuerRow | Row[Any] | IssuerFields) -> Issuer:
        """The API view of an issuer."""
        return cls(
            id=to_global_id("Issuer", row.id),
            name=row.name,
            country=row.country,
            website=row.website,
            db_id=row.id,
        )

"""Investor types and inputs."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.db.models import Investor as InvestorRow
from schema.context import Info
from schema.enums import AccreditationStatus, KycStatus
from schema.relay import Node, to_global_id
from schema.scalars import Address


async def _wallets(root: Investor, info: Info) -> list[Address]:
    return [Address(a) for a in await info.context.loaders.wallets.load(root.db_id)]


@strawberry.type(description="A person or entity that subscribes to offerings.")
class Investor(Node):
    id: strawberry.ID
    full_name: str
    email: str | None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country of residence.")
    is_us_person: bool
    kyc_status: KycStatus
    kyc_updated_at: dt.datetime | None
    accreditation_status: AccreditationStatus
    accreditation_expires_at: dt.datetime | None
    created_at: dt.datetime
    db_id: strawberry.Private[int]
    wallets: list[Address] = strawberry.field(
        resolver=_wallets, description="The investor's wallet addresses."
    )

    @classmethod
    def from_row(cls, row: InvestorRow) -> Investor:
        """The API view of an investor."""
        return cls(
            id=to_global_id("Investor", row.id),
            full_name=row.full_name,
            email=row.email,
            country=row.country,
            is_us_person=row.is_us_person,
            kyc_status=KycStatus(row.kyc_status),
            kyc_updated_at=row.kyc_updated_at,
            accreditation_status=AccreditationStatus(row.accreditation_status),
            accreditation_expires_at=row.accreditation_expires_at,
            created_at=row.created_at,
            db_id=row.id,
        )


@strawberry.input(description="The profile of a wallet registering as an investor.")
class RegisterInvestorInput:
    full_name: str
    email: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. GB.")
    is_us_person: bool


@strawberry.input(description="Profile fields to change; a new country or US status reopens KYC.")
class UpdateProfileInput:
    full_name: str | None = None
    email: str | None = None
    country: str | None = None
    is_us_person: bool | None = None

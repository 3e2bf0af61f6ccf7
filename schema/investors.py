"""Investor types and inputs."""

from __future__ import annotations

import datetime as dt

import strawberry

from schema.context import Info
from schema.enums import AccreditationStatus, KycStatus
from schema.relay import Node
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
    wallets: list[Address] = strawberry.field(resolver=_wallets,
                                              description="The investor's wallet addresses.")


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

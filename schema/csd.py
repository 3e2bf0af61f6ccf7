"""CSD safekeeping accounts and the holders they are mapped to."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.db.models import CsdAccount as CsdAccountRow
from schema.enums import CsdName
from schema.scalars import Address


@strawberry.type(
    description=(
        "A safekeeping account at a depository and the holder (chain address) whose position it "
        "carries; reconciliation compares the account's statement lines with that holder."
    )
)
class CsdAccount:
    csd: CsdName
    account: str
    holder: Address
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: CsdAccountRow) -> CsdAccount:
        """The API view of a mapping."""
        return cls(
            csd=CsdName(row.csd),
            account=row.account,
            holder=Address(row.holder_address),
            created_at=row.created_at,
        )


@strawberry.type(description="The mapping after mapCsdAccount, and whether the call changed it.")
class CsdAccountMapping:
    mapping: CsdAccount
    changed: bool = strawberry.field(
        description=("False when the account was already mapped to this holder (nothing written).")
    )

"""CSD account mappings: the query, and mapping or unmapping an account (ops, admin)."""

from __future__ import annotations

import strawberry

from dpo.db.session import unit_of_work
from dpo.services import csd_accounts
from schema.context import Info
from schema.csd import CsdAccount, CsdAccountMapping
from schema.enums import CsdName
from schema.relay import Connection, connection_of, from_global_id
from schema.scalars import Address


async def resolve_csd_accounts(
    info: Info,
    csd: CsdName | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[CsdAccount]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    core = csd
    async with sessions() as session:
        page = await csd_accounts.list_accounts(
            session,
            principal=principal,
            csd=core,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with sessions() as session:
            return await csd_accounts.count_accounts(session, principal=principal, csd=core)

    return connection_of(page, [CsdAccount.from_row(r) for r in page.rows], total)


async def resolve_map_csd_account(
    info: Info,
    csd: CsdName,
    account: str,
    holder: Address | None = None,
    investor_id: strawberry.ID | None = None,
) -> CsdAccountMapping:
    investor = (
        None
        if investor_id is None
        else from_global_id(investor_id, expect="Investor", field="investorId")[1]
    )
    async with unit_of_work(info.context.runtime.sessions) as session:
        mapped = await csd_accounts.map_account(
            session,
            principal=info.context.principal,
            csd=csd,
            account=account,
            holder=holder,
            investor_id=investor,
        )
        return CsdAccountMapping(mapping=CsdAccount.from_row(mapped.row), changed=mapped.changed)


async def resolve_unmap_csd_account(info: Info, csd: CsdName, account: str) -> CsdAccount:
    async with unit_of_work(info.context.runtime.sessions) as session:
        row = await csd_accounts.unmap_account(
            session, principal=info.context.principal, csd=csd, account=account
        )
        return CsdAccount.from_row(row)


@strawberry.type
class CsdQuery:
    csd_accounts: Connection[CsdAccount] = strawberry.field(
        resolver=resolve_csd_accounts,
        description="Mapped CSD safekeeping accounts in (csd, account) order (ops, admin).",
    )


@strawberry.type
class CsdMutation:
    map_csd_account: CsdAccountMapping = strawberry.mutation(
        resolver=resolve_map_csd_account,
        description="Map a CSD safekeeping account to a holder: an address, or an investor "
        "(their first wallet, where the ledger books their units). Exactly one of "
        "`holder` and `investorId`. Idempotent; audited; the next reconciliation "
        "uses it (ops, admin).",
    )
    unmap_csd_account: CsdAccount = strawberry.mutation(
        resolver=resolve_unmap_csd_account,
        description="Remove an account's mapping; returns what it was (ops, admin).",
    )

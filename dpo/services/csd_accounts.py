"""Which holder a CSD safekeeping account belongs to: how depository lines meet chain holders.

A semt.002 statement names safekeeping accounts, not wallets. Reconciliation
(dpo.reconciliation.sql) maps each account to a holder address through `csd_accounts`; an
unmapped account is its own holder (`<csd>:<account>`) and so every line of it is reported as
`missing_in_ledger`. Ops map accounts here (the `mapCsdAccount` mutation, `dpo csd map`):

- to an address, or to an investor, which means the investor's first wallet: the holder the
  ledger books that investor's units to (an investor without a wallet cannot be mapped);
- idempotent: mapping an account to the holder it already has changes and audits nothing;
  a different holder replaces the old one (audited with both);
- serialised per account (a row lock; a first mapping raced by another inserts once);
- audited, like every staff change; the next reconciliation pass uses the mapping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import AuditLog, CsdAccount, Investor, InvestorWallet
from dpo.db.models.enums import Csd
from dpo.errors import NotFoundError, ValidationError
from dpo.services import audit
from dpo.services.codes import normalize_address
from dpo.services.ops import require_ops
from dpo.services.pagination import Ordering, Page, SortKey, count, paginate

# ISO 20022 Max35Text as the depositories use it for account ids: printable ASCII, no
# surrounding blanks (what a statement's `sfkpgAcct` carries, checked the same way here).
_ACCOUNT = re.compile(r"^[!-~](?:[ -~]{0,33}[!-~])?$")
ACCOUNTS_BY_KEY = Ordering(
    "csd_accounts", (SortKey(CsdAccount.csd.expression), SortKey(CsdAccount.account.expression))
)


@dataclass(frozen=True)
class Mapped:
    """The mapping now, and whether this call changed it."""

    row: CsdAccount
    changed: bool


def parse_csd(value: str) -> Csd:
    """A depository's name; ValidationError (field `csd`) otherwise."""
    try:
        return Csd(value)
    except ValueError:
        raise ValidationError(
            f"csd must be one of {', '.join(c.value for c in Csd)}", field="csd"
        ) from None


def check_account(account: str) -> str:
    """An account id as statements carry it; ValidationError (field `account`) otherwise."""
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise ValidationError(
            "account must be 1 to 35 printable ASCII characters without leading or trailing blanks",
            field="account",
        )
    return account


async def holder_of_investor(session: AsyncSession, investor_id: int) -> str:
    """The investor's first wallet, the holder the ledger books their units to."""
    if await session.get(Investor, investor_id) is None:
        raise NotFoundError("no such investor", field="investorId")
    address = await session.scalar(
        select(InvestorWallet.address)
        .where(InvestorWallet.investor_id == investor_id)
        .order_by(InvestorWallet.id)
        .limit(1)
    )
    if address is None:
        raise ValidationError(
            "this investor has no wallet to map the account to", field="investorId"
        )
    return str(address)


def _snapshot(row: CsdAccount) -> dict[str, str]:
    return {"csd": row.csd, "account": row.account, "holder_address": row.holder_address}


async def _audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    csd: Csd,
    account: str,
    before: dict[str, str] | None,
    after: dict[str, str] | None,
) -> None:
    request_id, client_address = audit.origin()
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            entity_type="csd_account",
            entity_id=f"{csd.value}:{account}"[:64],
            before=before,
            after=after,
            request_id=request_id,
            client_address=client_address,
        )
    )
    await session.flush()


async def map_account(
    session: AsyncSession,
    *,
    principal: Principal,
    csd: Csd,
    account: str,
    holder: str | None = None,
    investor_id: int | None = None,
) -> Mapped:
    """Map `account` at `csd` to an address or an investor's first wallet (exactly one)."""
    require_ops(principal)
    return await map_account_as(
        session,
        actor=principal.actor,
        csd=csd,
        account=account,
        holder=holder,
        investor_id=investor_id,
    )


async def map_account_as(
    session: AsyncSession,
    *,
    actor: str,
    csd: Csd,
    account: str,
    holder: str | None = None,
    investor_id: int | None = None,
) -> Mapped:
    """map_account for a caller already allowed (the operator's CLI, `system:cli`)."""
    check_account(account)
    if (holder is None) == (investor_id is None):
        raise ValidationError("give exactly one of holder and investorId", field="holder")
    if holder is not None:
        try:
            address = normalize_address(holder)
        except ValueError as error:
            raise ValidationError(str(error), field="holder") from None
    else:
        assert investor_id is not None
        address = normalize_address(await holder_of_investor(session, investor_id))
    # Insert if absent (a concurrent first mapping inserts once), else lock the row.
    inserted = (
        await session.execute(
            insert(CsdAccount)
            .values(
                csd=csd.value,
                account=account,
                holder_address=address,
            )
            .on_conflict_do_nothing(index_elements=["csd", "account"])
            .returning(CsdAccount.csd)
        )
    ).scalar_one_or_none() is not None
    row = await session.scalar(
        select(CsdAccount)
        .where(CsdAccount.csd == csd.value, CsdAccount.account == account)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if inserted:
        await _audit(
            session,
            actor=actor,
            action="csd_account.map",
            csd=csd,
            account=account,
            before=None,
            after=_snapshot(row),
        )
        return Mapped(row=row, changed=True)
    if row.holder_address.lower() == address.lower():
        return Mapped(row=row, changed=False)
    before = _snapshot(row)
    row.holder_address = address
    await session.flush()
    await _audit(
        session,
        actor=actor,
        action="csd_account.map",
        csd=csd,
        account=account,
        before=before,
        after=_snapshot(row),
    )
    return Mapped(row=row, changed=True)


async def unmap_account(
    session: AsyncSession, *, principal: Principal, csd: Csd, account: str
) -> CsdAccount:
    """Remove an account's mapping (its lines become their own holder again); audited."""
    require_ops(principal)
    return await unmap_account_as(session, actor=principal.actor, csd=csd, account=account)


async def unmap_account_as(
    session: AsyncSession, *, actor: str, csd: Csd, account: str
) -> CsdAccount:
    """unmap_account for a caller already allowed."""
    check_account(account)
    row = await session.scalar(
        select(CsdAccount)
        .where(CsdAccount.csd == csd.value, CsdAccount.account == account)
        .with_for_update()
    )
    if row is None:
        raise NotFoundError("this account is not mapped", field="account")
    before = _snapshot(row)
    await session.delete(row)
    await session.flush()
    await _audit(
        session,
        actor=actor,
        action="csd_account.unmap",
        csd=csd,
        account=account,
        before=before,
        after=None,
    )
    return row


async def list_accounts(
    session: AsyncSession,
    *,
    principal: Principal,
    csd: Csd | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """Mapped accounts in (csd, account) order (ops, admin)."""
    require_ops(principal)
    query = select(CsdAccount)
    if csd is not None:
        query = query.where(CsdAccount.csd == csd.value)
    return await paginate(
        session, query, ordering=ACCOUNTS_BY_KEY, first=first, after=after, last=last, before=before
    )


async def count_accounts(
    session: AsyncSession, *, principal: Principal, csd: Csd | None = None
) -> int:
    """How many mappings list_accounts pages through."""
    require_ops(principal)
    query = select(CsdAccount)
    if csd is not None:
        query = query.where(CsdAccount.csd == csd.value)
    return await count(session, query)


async def unmapped_accounts(
    session: AsyncSession, csd: str, limit: int = 20
) -> tuple[int, Sequence[str]]:
    """Accounts holding something in `csd`'s latest statements (per ISIN, as
    reconciliation reads them) that no mapping covers: (how many, a few)."""
    rows = (
        (
            await session.execute(
                text(
                    "WITH latest AS (SELECT isin, max(statement_date) AS statement_date "
                    "FROM csd_holdings WHERE csd = :csd GROUP BY isin) "
                    "SELECT DISTINCT h.account FROM csd_holdings h "
                    "JOIN latest USING (isin, statement_date) WHERE h.csd = :csd "
                    "AND h.quantity > 0 AND NOT EXISTS (SELECT 1 FROM csd_accounts a "
                    "WHERE a.csd = h.csd AND a.account = h.account) ORDER BY 1"
                ),
                {"csd": csd},
            )
        )
        .scalars()
        .all()
    )
    return len(rows), [str(r) for r in rows[:limit]]

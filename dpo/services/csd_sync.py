"""`sync_csd`: holdings statements and settlement statuses from each depository.

Each depository is synced on its own: one that is down (or answers garbage) is recorded in
the result's errors while the other's data is still stored (partial success). A statement
is read to its last page before anything is written, then stored in one transaction, so a
run killed half-way leaves the previous statement untouched; lines that vanished from a
re-sent statement of the same day are removed. Statuses map onto our sese.024-like states.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.base import utcnow
from dpo.db.models import CsdHolding, SettlementInstruction
from dpo.db.models.enums import ProcessingStatus, SettlementStatus
from dpo.db.session import unit_of_work
from dpo.errors import ProviderError, ProviderMalformed
from dpo.providers.csd import Balance, CsdAdapter
from dpo.services.csd_accounts import unmapped_accounts

logger = logging.getLogger(__name__)
FINAL_PROCESSING = (ProcessingStatus.REJECTED.value, ProcessingStatus.CANCELLED.value)


@dataclass
class CsdSyncResult:
    """Per depository: statement date, holdings written/removed, statuses updated; errors."""

    statements: dict[str, str] = field(default_factory=dict)
    holdings: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    # Accounts in the latest statements no csd_accounts mapping covers: their lines cannot
    # meet a chain holder, so reconciliation reports them as missing_in_ledger.
    unmapped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        """The job_runs.counts form."""
        outcome = (
            "failed"
            if self.errors and not self.statements
            else ("partial" if self.errors else "complete")
        )
        return {
            "outcome": outcome,
            "statements": self.statements,
            "holdings": self.holdings,
            "removed": self.removed,
            "statuses": self.statuses,
            "unmapped_accounts": self.unmapped,
            **({"errors": self.errors} if self.errors else {}),
        }


async def _read_statement(csd: CsdAdapter) -> tuple[str, date, list[Balance]]:
    lines: dict[tuple[str, str], Balance] = {}
    statement_id, statement_date = "", date.min
    async for page in csd.holdings():
        statement_id, statement_date = page.details.statement_id, page.details.statement_date
        for balance in page.balances:
            key = (balance.account, balance.isin)
            if key in lines:
                raise ProviderMalformed(csd.name, "the same account and ISIN twice in a statement")
            lines[key] = balance
    return statement_id, statement_date, list(lines.values())


async def store_statement(
    session: AsyncSession,
    csd: str,
    statement_id: str,
    statement_date: date,
    balances: list[Balance],
) -> tuple[int, int]:
    """Upsert a whole statement; remove that day's lines it no longer has. (written, removed)"""
    written = 0
    for start in range(0, len(balances), 1000):
        rows = [
            {
                "csd": csd,
                "account": b.account,
                "isin": b.isin,
                "quantity": b.quantity,
                "statement_date": statement_date,
                "statement_id": statement_id,
            }
            for b in balances[start : start + 1000]
        ]
        statement = insert(CsdHolding).values(rows)
        upsert = statement.on_conflict_do_update(
            index_elements=[
                CsdHolding.csd,
                CsdHolding.account,
                CsdHolding.isin,
                CsdHolding.statement_date,
            ],
            set_={
                "quantity": statement.excluded.quantity,
                "statement_id": statement.excluded.statement_id,
                "received_at": func.now(),
            },
            where=(CsdHolding.quantity != statement.excluded.quantity)
            | CsdHolding.statement_id.is_distinct_from(statement.excluded.statement_id),
        ).returning(CsdHolding.id)
        written += len((await session.scalars(upsert)).all())
    # Two array parameters, however long the statement (a NOT IN list would hit the limit
    # of 32,767 bind parameters per statement).
    gone = await session.execute(
        text(
            "DELETE FROM csd_holdings WHERE csd = :csd AND statement_date = :day AND "
            "(account, isin) NOT IN (SELECT a, i FROM unnest(CAST(:accounts AS varchar[]), "
            "CAST(:isins AS varchar[])) AS kept(a, i))"
        ),
        {
            "csd": csd,
            "day": statement_date,
            "accounts": [b.account for b in balances],
            "isins": [b.isin for b in balances],
        },
    )
    return written, int(gone.rowcount)  # type: ignore[attr-defined]


async def sync_statuses(sessions: async_sessionmaker[AsyncSession], csd: CsdAdapter) -> int:
    """Ask for the status of every open instruction at `csd`; store the changes."""
    async with sessions() as session:
        references = list(
            (
                await session.scalars(
                    select(SettlementInstruction.reference)
                    .where(
                        SettlementInstruction.csd == csd.name,
                        SettlementInstruction.settlement_status != SettlementStatus.SETTLED.value,
                        SettlementInstruction.processing_status.not_in(FINAL_PROCESSING),
                    )
                    .order_by(SettlementInstruction.id)
                )
            ).all()
        )
    if not references:
        return 0
    reports = {report.reference: report for report in await csd.statuses(references)}
    changed = 0
    async with unit_of_work(sessions) as session:
        rows = (
            await session.scalars(
                select(SettlementInstruction)
                .where(
                    SettlementInstruction.csd == csd.name,
                    SettlementInstruction.reference.in_(list(reports)),
                )
                .with_for_update()
            )
        ).all()
        for row in rows:
            report = reports[row.reference]
            new = (
                report.processing_status.value,
                report.matching_status.value,
                report.settlement_status.value,
                report.reason_text,
            )
            if new == (
                row.processing_status,
                row.matching_status,
                row.settlement_status,
                row.status_reason,
            ):
                continue
            (
                row.processing_status,
                row.matching_status,
                row.settlement_status,
                row.status_reason,
            ) = new
            if report.settlement_status is SettlementStatus.SETTLED and row.settled_at is None:
                row.settled_at = report.settled_at or utcnow()
            changed += 1
    return changed


async def sync_depository(
    sessions: async_sessionmaker[AsyncSession], csd: CsdAdapter, result: CsdSyncResult
) -> None:
    """Holdings then statuses of one depository into `result` (errors included)."""
    try:
        statement_id, statement_date, balances = await _read_statement(csd)
        async with unit_of_work(sessions) as session:
            written, removed = await store_statement(
                session, csd.name, statement_id, statement_date, balances
            )
            unmapped, some = await unmapped_accounts(session, csd.name)
        result.unmapped[csd.name] = unmapped
        if unmapped:
            logger.warning(
                "sync_csd: %d %s account(s) are not mapped to a holder (e.g. %s); "
                "map them with mapCsdAccount or `dpo csd map`",
                unmapped,
                csd.name,
                ", ".join(some[:5]),
            )
        result.statements[csd.name] = statement_date.isoformat()
        result.holdings[csd.name], result.removed[csd.name] = written, removed
        result.statuses[csd.name] = await sync_statuses(sessions, csd)
    except ProviderError as error:
        result.errors[csd.name] = f"{error.code.value}: {error.message}"
        logger.warning("sync_csd: %s failed: %s", csd.name, result.errors[csd.name])


async def sync_csd(
    sessions: async_sessionmaker[AsyncSession], depositories: list[CsdAdapter]
) -> CsdSyncResult:
    """Every depository in turn; one failing never stops the others."""
    result = CsdSyncResult()
    for csd in depositories:
        await sync_depository(sessions, csd, result)
    return result

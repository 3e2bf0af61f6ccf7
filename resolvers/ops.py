"""FX rates, reconciliation breaks, job runs and the feed history."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.db.session import unit_of_work
from dpo.errors import DomainError
from dpo.reconciliation.bell import ring_breaks
from dpo.runs.launch import launch, require_job_starter
from dpo.services import chain_events, market, ops
from jobs.registry import job_named
from schema.context import Info
from schema.enums import BreakStatus
from schema.errors import request_id_of
from schema.ops import (
    ChainEvent,
    ChainEventConnection,
    ChainEventEdge,
    EventFilter,
    FxRate,
    JobRun,
    ReconciliationBreak,
)
from schema.relay import (
    Connection,
    PageInfo,
    connection_of,
    from_global_id,
)
from schema.scalars import CurrencyCode


async def resolve_break_node(info: Info, db_id: int) -> ReconciliationBreak | None:
    """`node(id)` for breaks: null when unknown or not visible."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await ops.get_break(session, principal=info.context.principal, break_id=db_id)
        except DomainError:
            return None
        return ReconciliationBreak.from_row(row)


async def resolve_job_run_node(info: Info, db_id: int) -> JobRun | None:
    """`node(id)` for job runs: ops and admins, as `jobRuns`; null otherwise."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await ops.get_job_run(session, principal=info.context.principal, run_id=db_id)
        except DomainError:
            return None
        return JobRun.from_row(row)


async def resolve_event_node(info: Info, db_id: int) -> ChainEvent | None:
    """`node(id)` for feed items: public, as `events` is."""
    async with info.context.runtime.sessions() as session:
        row = await chain_events.get_event(session, db_id)
        return None if row is None else ChainEvent.from_row(row)


async def resolve_fx_rates(
    info: Info,
    base: CurrencyCode | None = None,
    quote: CurrencyCode | None = None,
    on: dt.date | None = None,
) -> list[FxRate]:
    async with info.context.runtime.sessions() as session:
        rows = await market.list_fx_rates(session, base=base, quote=quote, on=on)
    return [FxRate.from_row(r, on=on) for r in rows]


async def resolve_reconciliation_breaks(
    info: Info,
    status: BreakStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[ReconciliationBreak]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    core = status
    async with sessions() as session:
        page = await ops.list_breaks(
            session,
            principal=principal,
            status=core,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with sessions() as session:
            return await ops.count_breaks(session, principal=principal, status=core)

    return connection_of(page, [ReconciliationBreak.from_row(r) for r in page.rows], total)


async def resolve_job_runs(
    info: Info, job: str | None = None, first: int | None = None
) -> list[JobRun]:
    async with info.context.runtime.sessions() as session:
        rows = await ops.list_job_runs(
            session, principal=info.context.principal, job=job, first=first
        )
    return [JobRun.from_row(r) for r in rows]


async def resolve_events(
    info: Info,
    filter: EventFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> ChainEventConnection:
    spec = chain_events.EventFilter()
    if filter is not None:
        offering = (
            None
            if filter.offering_id is None
            else from_global_id(filter.offering_id, expect="Offering", field="offeringId")[1]
        )
        spec = chain_events.EventFilter(
            contract=filter.contract,
            event_name=filter.event_name,
            offering_id=offering,
            address=filter.address,
        )
    runtime = info.context.runtime
    sessions = runtime.reads
    # Raw reads only: a pooled connection without a session (dpo.db.pooled_reads).
    async with runtime.read_connections() as reads:
        page = await chain_events.page_events(
            reads, filter=spec, first=first, after=after, last=last, before=before
        )
    edges = [ChainEventEdge(cursor=str(r.id), node=ChainEvent.from_row(r)) for r in page.items]
    start, end = (edges[0].cursor, edges[-1].cursor) if edges else (None, None)

    async def total() -> int:
        async with sessions() as session:
            return await chain_events.count_events(session, filter=spec)

    return ChainEventConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=start,
            end_cursor=end,
        ),
        count_total=total,
        has_next_page=page.has_next_page,
        end_cursor=end if edges else after,
    )


@strawberry.type
class OpsQuery:
    fx_rates: list[FxRate] = strawberry.field(
        resolver=resolve_fx_rates,
        description="The rate in force on a day (the latest without `on`) per pair and source.",
    )
    reconciliation_breaks: Connection[ReconciliationBreak] = strawberry.field(
        resolver=resolve_reconciliation_breaks, description="Reconciliation breaks (ops, admin)."
    )
    job_runs: list[JobRun] = strawberry.field(
        resolver=resolve_job_runs, description="The latest job runs first (ops, admin)."
    )
    events: ChainEventConnection = strawberry.field(
        resolver=resolve_events,
        description="Chain event feed history after a cursor; public, as the chain is.",
    )


async def resolve_resolve_break(
    info: Info,
    id: strawberry.ID,
    status: BreakStatus = BreakStatus.RESOLVED,
    note: str | None = None,
) -> ReconciliationBreak:
    target = from_global_id(id, expect="ReconciliationBreak")[1]
    runtime = info.context.runtime
    async with unit_of_work(runtime.sessions) as session:
        row = await ops.resolve_break(
            session, principal=info.context.principal, break_id=target, status=status, note=note
        )
        node = ReconciliationBreak.from_row(row)
    # Committed: subscribers read the change now rather than at their next poll.
    await ring_breaks(runtime.redis, channel=runtime.channels.breaks, revision=row.revision)
    return node


async def resolve_run_job(info: Info, name: str, full: bool = False) -> JobRun:
    require_job_starter(info.context.principal)  # before the name says anything
    row = await launch(
        job_named(name),
        full=full,
        principal=info.context.principal,
        runtime=info.context.runtime,
        request_id=request_id_of(info.context),
    )
    return JobRun.from_row(row)


@strawberry.type
class OpsMutation:
    resolve_break: ReconciliationBreak = strawberry.mutation(
        resolver=resolve_resolve_break,
        description="Close a break as resolved or ignored (ops, admin).",
    )
    run_job: JobRun = strawberry.mutation(
        resolver=resolve_run_job,
        description="Start a job now (admins, admin or ops service API keys) and return its "
        "run, `running`; follow it in `jobRuns`. CONFLICT while a run of the job "
        "is in progress. `full`: reconcile_positions' full reconciliation.",
    )

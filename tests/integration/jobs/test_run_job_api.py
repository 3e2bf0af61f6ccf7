"""runJob through the schema: who may, what bad input gets, and the audit trail."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import func, select

from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.db.models import AuditLog, JobRun
from tests.integration.api.committed import Api
from tests.integration.services.support import admin, issuer_staff, ops, wallet

RUN = """mutation($name: String!, $full: Boolean) { runJob(name: $name, full: $full) {
  id job status } }"""
SERVICE_OPS = Principal(kind=Kind.SERVICE, role="ops", api_key_prefix="svcops")
SERVICE_ISSUER = Principal(kind=Kind.SERVICE, role="issuer", api_key_prefix="svciss", issuer_id=1)


def _code(result: dict[str, object]) -> str | None:
    errors = result["errors"]
    assert isinstance(errors, list)
    return str(errors[0]["code"]) if errors else None


async def _runs(api: Api) -> int:
    async with api.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(JobRun)) or 0)


async def _settle(api: Api) -> None:
    for task in list(api.runtime.background):
        await task


async def test_only_admins_and_service_keys_start_jobs(api: Api) -> None:
    for principal, code in (
        (ANONYMOUS, "UNAUTHENTICATED"),
        (wallet("0x" + "1" * 40, 1), "FORBIDDEN"),
        (ops(), "FORBIDDEN"),
        (issuer_staff(1), "FORBIDDEN"),
        (SERVICE_ISSUER, "FORBIDDEN"),
    ):
        # Refused before the name is looked at: an unknown name says nothing more.
        for name in ("reconcile_positions", "no_such_job"):
            assert _code(await api.run(RUN, principal, name=name)) == code, principal
    assert await _runs(api) == 0
    for principal in (admin(), SERVICE_OPS):
        answer = await api.run(RUN, principal, name="reconcile_positions")
        assert answer["data"]["runJob"]["status"] == "running", answer
        await _settle(api)
    async with api.runtime.sessions() as session:
        audit = (
            await session.execute(
                select(AuditLog.actor, AuditLog.action, AuditLog.after)
                .where(AuditLog.entity_type == "job_run")
                .order_by(AuditLog.id)
            )
        ).all()
    assert [tuple(row) for row in audit] == [
        ("user:1", "job.run", {"job": "reconcile_positions", "full": False}),
        ("api_key:svcops", "job.run", {"job": "reconcile_positions", "full": False}),
    ]


async def test_bad_names_and_options_are_validation_errors_and_change_nothing(api: Api) -> None:
    before = await _runs(api)
    huge = "x" * 100_000
    for name in ("no_such_job", "", huge, "reconcile_positions\x00", "RECONCILE_POSITIONS"):
        answer = await api.run(RUN, admin(), name=name)
        assert _code(answer) == "VALIDATION", name
        assert huge not in str(answer)
    assert _code(await api.run(RUN, admin(), name="sync_csd", full=True)) == "VALIDATION"
    assert _code(await api.run("mutation { runJob(name: 5) { id } }", admin())) is not None
    assert await _runs(api) == before


async def test_the_full_run_is_recorded_as_full(api: Api) -> None:
    answer = await api.run(RUN, admin(), name="reconcile_positions", full=True)
    assert answer["data"]["runJob"]["status"] == "running"
    await _settle(api)
    runs = await api.run("{ jobRuns(first: 1) { status counts } }", admin())
    run = runs["data"]["jobRuns"][0]
    assert (run["status"], run["counts"]["full"]) == ("succeeded", True)
    assert run["counts"]["projections_checked"] == 0


async def test_closing_the_runtime_stops_a_background_run(api: Api) -> None:
    # A run still going when the web process shuts down is recorded stopped, not left running.
    answer = await api.run(RUN, admin(), name="reconcile_positions")
    await asyncio.sleep(0)  # as Runtime.close does
    tasks = list(api.runtime.background)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    run_id = answer["data"]["runJob"]["id"]
    runs = (await api.run("{ jobRuns(first: 1) { id status error } }", admin()))["data"]
    assert runs["jobRuns"][0]["id"] == run_id
    assert runs["jobRuns"][0]["status"] == "failed"
    assert runs["jobRuns"][0]["error"].startswith("stopped")
    assert (await api.run(RUN, admin(), name="reconcile_positions"))["data"]  # lock released
    await _settle(api)

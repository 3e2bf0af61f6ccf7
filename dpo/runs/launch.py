"""Start a job on demand (the `runJob` mutation): checked, audited, run in the background.

The caller gets the committed `running` row at once; the run continues as a task of the web
process (`Runtime.background`) under the same advisory lock as every other run, so a
concurrent `runJob`, a scheduled run or a cron `dpo jobs run` of the same job is refused or
skipped. Who may: admins, and service API keys of the admin or ops role (the runbook's
"or on-demand" sync is a machine's call).
"""

from __future__ import annotations

import asyncio
import logging

from dpo.auth.principal import Kind, Principal
from dpo.db.models import JobRun
from dpo.db.session import unit_of_work
from dpo.errors import ConflictError, ForbiddenError, ValidationError
from dpo.runs.runner import (
    FailureHook,
    JobNotAvailableError,
    JobSpec,
    RunSkippedError,
    start_run,
)
from dpo.runtime import Runtime
from dpo.services import audit
from dpo.services.policy import ADMIN, OPS, require_authenticated

logger = logging.getLogger(__name__)


def require_job_starter(principal: Principal) -> None:
    """Refuse everyone but admins and admin/ops service keys."""
    require_authenticated(principal)
    if principal.role == ADMIN or (principal.kind is Kind.SERVICE and principal.role == OPS):
        return
    raise ForbiddenError(
        "only admins and service API keys may start jobs", reason="job_starters_only"
    )


def _database_url(runtime: Runtime) -> str:
    return runtime.engine.url.render_as_string(hide_password=False)


async def launch(
    spec: JobSpec,
    *,
    full: bool,
    principal: Principal,
    runtime: Runtime,
    request_id: str | None = None,
    on_failure: FailureHook | None = None,
) -> JobRun:
    """Start a run of `spec` and return its `running` row; the run goes on in the background."""
    require_job_starter(principal)
    if full and not spec.has_full:
        raise ValidationError(f"{spec.name} has no full run", field="full")
    try:
        started = await start_run(
            spec,
            settings=runtime.settings,
            sessions=runtime.sessions,
            redis=runtime.redis,
            database_url=_database_url(runtime),
            full=full,
            on_failure=on_failure,
        )
    except RunSkippedError as skipped:
        raise ConflictError(
            str(skipped), reason="already_running", running_run=skipped.running_id
        ) from None
    except JobNotAvailableError as error:
        raise ConflictError(str(error), reason="not_available") from None
    try:
        async with unit_of_work(runtime.sessions) as session:
            await audit.record(
                session,
                principal=principal,
                action="job.run",
                entity_type="job_run",
                entity_id=started.row.id,
                before=None,
                after={"job": spec.name, "full": full},
                request_id=request_id,
            )
    except BaseException:
        await started.lock.release()
        raise
    task = asyncio.create_task(started.execute(), name=f"job-{spec.name}-{started.row.id}")
    runtime.background.add(task)
    task.add_done_callback(runtime.background.discard)
    logger.info("job %s run %d started by %s", spec.name, started.row.id, principal.actor)
    return started.row

"""Every job by name: what `dpo jobs run`, `manage.py`, `runJob` and the scheduler know."""

from __future__ import annotations

from dpo.errors import ValidationError
from dpo.runs.runner import JobSpec
from jobs import reconcile_positions, sync_csd, sync_fx_rates

JOBS: dict[str, JobSpec] = {
    spec.name: spec for spec in (sync_fx_rates.SPEC, sync_csd.SPEC, reconcile_positions.SPEC)
}


def job_named(name: str) -> JobSpec:
    """The job of this name; ValidationError (field `name`) for any other string."""
    spec = JOBS.get(name)
    if spec is None:
        shown = name if len(name) <= 64 and name.isprintable() else "(unprintable)"
        raise ValidationError(f"unknown job {shown!r}; jobs are {', '.join(JOBS)}", field="name")
    return spec

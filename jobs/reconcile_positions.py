"""`reconcile_positions` (hourly; `--full` weekly): ledger against chain against the CSDs.

The work is dpo.reconciliation's: one transaction per pass, set-based in PostgreSQL.
"""

from __future__ import annotations

from dataclasses import asdict

from dpo.channels import channels_of
from dpo.reconciliation.bell import ring_breaks
from dpo.reconciliation.service import run_pass
from dpo.runs.runner import JobContext, JobSpec


async def run(context: JobContext) -> None:
    """One pass; its figures become the job run's counts; break subscribers are woken."""
    result = await run_pass(context.sessions, full=context.full)
    context.counts.update(asdict(result))
    if result.breaks_opened or result.breaks_updated or result.breaks_resolved:
        channels = channels_of(context.redis, context.settings.redis_channel_prefix)
        await ring_breaks(context.redis, channel=channels.breaks)
    await context.committed()


SPEC = JobSpec(
    name="reconcile_positions",
    run=run,
    has_full=True,
    description="Ledger, on-chain and CSD positions compared; breaks opened/closed",
)

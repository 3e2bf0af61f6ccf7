"""`reconcile_positions` (hourly; `--full` weekly): ledger against chain against the CSDs.

The work is dpo.reconciliation's: one transaction per pass, set-based in PostgreSQL.
"""

from __future__ import annotations

from dataclasses import asdict

from dpo.reconciliation.service import run_pass
from dpo.runs.runner import JobContext, JobSpec


async def run(context: JobContext) -> None:
    """One pass; its figures become the job run's counts."""
    result = await run_pass(context.sessions, full=context.full)
    context.counts.update(asdict(result))
    await context.committed()


SPEC = JobSpec(name="reconcile_positions", run=run, has_full=True,
               description="Ledger, on-chain and CSD positions compared; breaks opened/closed")

"""`sync_csd` (every 30 minutes): holdings and settlement statuses (dpo.services.csd_sync)."""

from __future__ import annotations

from dpo.runs.runner import JobSpec
from dpo.services.sync_jobs import run_sync_csd

SPEC = JobSpec(
    name="sync_csd",
    run=run_sync_csd,
    description="CSD holdings and settlement statuses (Euroclear, Clearstream)",
)

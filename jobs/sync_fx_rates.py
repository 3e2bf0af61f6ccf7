"""`sync_fx_rates` (every 15 minutes): the ECB's reference rates (dpo.services.fx)."""

from __future__ import annotations

from dpo.runs.runner import JobSpec
from dpo.services.sync_jobs import run_sync_fx_rates

SPEC = JobSpec(
    name="sync_fx_rates",
    run=run_sync_fx_rates,
    description="FX reference rates (ECB), cross rates derived",
)

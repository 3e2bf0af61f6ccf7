"""`reconcile_positions` (hourly; `--full` weekly): ledger against chain against the CSDs."""

from __future__ import annotations

from dpo.runs.runner import JobSpec

SPEC = JobSpec(name="reconcile_positions", run=None, has_full=True,
               description="Ledger, on-chain and CSD positions compared; breaks opened/closed")

"""`sync_csd` (every 30 minutes): holdings and settlement statuses from Euroclear and Clearstream.

Not built yet: the provider clients come with the integrations work; until then the job
reports itself unavailable (exit 3) instead of pretending to run.
"""

from __future__ import annotations

from dpo.runs.runner import JobSpec

SPEC = JobSpec(name="sync_csd", run=None,
               description="CSD holdings and settlement statuses (Euroclear, Clearstream)")

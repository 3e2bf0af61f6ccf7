"""`sync_fx_rates` (every 15 minutes): the ECB's reference rates and Xetra prices.

Not built yet: the provider clients come with the integrations work; until then the job
reports itself unavailable (exit 3) instead of pretending to run.
"""

from __future__ import annotations

from dpo.runs.runner import JobSpec

SPEC = JobSpec(name="sync_fx_rates", run=None,
               description="FX reference rates (ECB) and instrument prices (Xetra)")

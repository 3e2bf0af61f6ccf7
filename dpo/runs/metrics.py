"""Prometheus metrics of job runs, in the default registry (the scheduler's /metrics).

The web process registers the same collectors in its own registry (app.http.metrics), since
`runJob` runs jobs there. Labels are job names from the registry and fixed outcomes only.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter(
    "dpo_job_runs_total",
    "Job runs by outcome (succeeded, failed, stopped, skipped).",
    ["job", "outcome"],
)
RUN_SECONDS = Histogram(
    "dpo_job_run_seconds",
    "Job run duration, lock to recorded outcome, by outcome.",
    ["job", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
)
LAST_SUCCESS = Gauge(
    "dpo_job_last_success_timestamp_seconds",
    "Unix time at which the job last succeeded in this process.",
    ["job"],
)

COLLECTORS = (RUNS, RUN_SECONDS, LAST_SUCCESS)


def observe(job: str, outcome: str, seconds: float, finished_at: float) -> None:
    """One finished run."""
    RUNS.labels(job=job, outcome=outcome).inc()
    RUN_SECONDS.labels(job=job, outcome=outcome).observe(max(seconds, 0.0))
    if outcome == "succeeded":
        LAST_SUCCESS.labels(job=job).set(finished_at)


def skipped(job: str) -> None:
    """A run that found another holding the job's lock."""
    RUNS.labels(job=job, outcome="skipped").inc()

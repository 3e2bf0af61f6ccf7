"""Prometheus metrics of provider calls, registered once in the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS = Counter(
    "dpo_provider_calls_total",
    "Provider calls by outcome (ok, rejected, malformed, unavailable, circuit_open).",
    ["provider", "outcome"],
)
CALL_SECONDS = Histogram(
    "dpo_provider_call_seconds",
    "Provider call latency, retries included, by outcome.",
    ["provider", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
ATTEMPTS = Counter(
    "dpo_provider_attempts_total",
    "HTTP attempts by result (2xx, 4xx, 429, 5xx, timeout, connection).",
    ["provider", "result"],
)
CIRCUIT = Gauge(
    "dpo_provider_circuit_state",
    "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
    ["provider"],
)

CIRCUIT_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}

# For a web app that serves its own registry (app.http.metrics) as well as the default one.
COLLECTORS = (CALLS, CALL_SECONDS, ATTEMPTS, CIRCUIT)

"""Prometheus metrics of the listener, registered once in the default registry."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from dpo.streaming.buckets import LATENCY_BUCKETS

# Kinds of RPC failure, the label values of RPC_ERRORS.
RPC_ERROR_KINDS = (
    "timeout",
    "transport",
    "http_5xx",
    "http_4xx",
    "rate_limited",
    "bad_body",
    "rpc_error",
    "range",
)

RPC_ERRORS = Counter(
    "dpo_listener_rpc_errors_total",
    "Failed JSON-RPC attempts by kind of failure.",
    ["kind"],
)
RPC_REQUESTS = Counter(
    "dpo_listener_rpc_requests_total",
    "JSON-RPC requests sent (every attempt).",
    ["method"],
)
RPC_SECONDS = Histogram(
    "dpo_listener_rpc_seconds",
    "Duration of one JSON-RPC attempt.",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HEAD_BLOCK = Gauge("dpo_listener_head_block", "Latest block number the provider reported.")
PROCESSED_BLOCK = Gauge("dpo_listener_processed_block", "Last block committed to the database.")
LAG_BLOCKS = Gauge("dpo_listener_lag_blocks", "Head block minus processed block.")
EVENTS = Counter("dpo_listener_events_total", "Chain events stored.")
REORGS = Counter("dpo_listener_reorgs_total", "Chain reorganisations handled.")
# Why answers were refused: a node behind the chain, or answers that disagree.
INCONSISTENT_REASONS = (
    "missing_logs",
    "out_of_range",
    "missing_block",
    "unlinked_headers",
    "orphaned_log",
)
RPC_INCONSISTENT = Counter(
    "dpo_rpc_inconsistent_total",
    "RPC answers refused by the listener's checks (never committed), by reason.",
    ["reason"],
)
# The tip's stages, in seconds after the listener saw the head (a newHeads push, or the poll
# whose eth_blockNumber answered it): wall-clock time, so the web's frame histogram
# (dpo_feed_frame_seconds) continues the same scale from the doorbell's `seen`.
TIP_STAGES = ("logs_fetched", "committed", "published")
TIP_SECONDS = Histogram(
    "dpo_listener_tip_seconds",
    "Seconds from seeing a head to each stage of the batch that reaches it, by stage.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
HEAD_DELAY = Histogram(
    "dpo_listener_head_seen_seconds",
    "Seconds from a head's block timestamp (whole seconds on most chains) to the listener "
    "seeing it.",
    buckets=(0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0),
)
DB_RETRIES = Counter(
    "dpo_listener_db_retries_total",
    "Transient database errors (lost connection, statement timeout) retried in process.",
)

for _stage in TIP_STAGES:
    TIP_SECONDS.labels(stage=_stage)
for _reason in INCONSISTENT_REASONS:
    RPC_INCONSISTENT.labels(reason=_reason)
for _kind in RPC_ERROR_KINDS:
    # Export every kind at zero so dashboards and alerts see the series before a failure.
    RPC_ERRORS.labels(kind=_kind)


def observe_stage(stage: str, seen_at: float | None) -> None:
    """Observe a tip stage reached now, for a batch whose head was seen at `seen_at` (or not)."""
    if seen_at is not None:
        TIP_SECONDS.labels(stage=stage).observe(time.time() - seen_at)

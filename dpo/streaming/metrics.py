"""Prometheus metrics of live subscriptions, registered once in the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from dpo.streaming.buckets import LATENCY_BUCKETS

CONNECTIONS = Gauge("dpo_ws_connections", "Open GraphQL WebSocket connections.")
SUBSCRIPTIONS = Gauge("dpo_feed_subscriptions", "Active feed subscribers in this process.")
DELIVERY_SECONDS = Histogram(
    "dpo_feed_delivery_seconds",
    "From the listener's insert of a feed item to its frame being handed to the socket.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
FRAME_SECONDS = Histogram(
    "dpo_feed_frame_seconds",
    "From the listener seeing the head of a feed item's block (the doorbell's `seen`) to the "
    "item's frame written to a subscriber's socket; one observation per frame.",
    buckets=LATENCY_BUCKETS,
)
OVERFLOWS = Counter(
    "dpo_feed_subscriber_overflows_total",
    "Live items dropped from a full subscriber queue (the subscriber re-reads them from the DB).",
)
SLOW_CLOSES = Counter(
    "dpo_feed_slow_consumer_closes_total", "Subscribers closed because they stopped consuming."
)
GAPS = Counter(
    "dpo_feed_doorbell_gaps_total",
    "Doorbells that skipped feed ids (a lost pub/sub message), filled from the DB.",
)
HUB_READS = Counter("dpo_feed_hub_reads_total", "Reads of new feed items by the hub.", ["cause"])
REDIS_RECONNECTS = Counter(
    "dpo_feed_redis_reconnects_total", "Re-subscriptions to the feed channel after a Redis failure."
)
FRAME_EXECUTIONS = Counter(
    "dpo_feed_frame_executions_total",
    "Executions of a subscription's selection set for a feed item (once per operation, "
    "permission scope and item; then shared).",
)
SHARED_FRAMES = Counter(
    "dpo_feed_shared_frames_total",
    "Subscription results reused from another subscriber's execution of the same operation.",
)
FANOUT_FRAMES = Counter(
    "dpo_feed_fanout_frames_total",
    "Live frames written to the socket by the hub's fan-out itself, without waking the "
    "subscriber's task (schema.direct_frames).",
)

# For a web app that serves its own registry (app.http.metrics) as well as the default one.
COLLECTORS = (
    CONNECTIONS,
    SUBSCRIPTIONS,
    DELIVERY_SECONDS,
    FRAME_SECONDS,
    OVERFLOWS,
    SLOW_CLOSES,
    GAPS,
    HUB_READS,
    REDIS_RECONNECTS,
    FRAME_EXECUTIONS,
    SHARED_FRAMES,
    FANOUT_FRAMES,
)

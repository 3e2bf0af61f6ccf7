"""Histogram buckets shared by the listener and the web (no metric is registered here)."""

from __future__ import annotations

# The tip's stages (listener/metrics.py) and the frame written share these buckets, so one
# scale runs from the head seen to the subscriber's socket.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.06,
    0.08,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

"""A fan-out pass's metrics, applied together, equal one update per frame."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from dpo.streaming.batch import FrameTally, observe_all
from dpo.streaming.buckets import LATENCY_BUCKETS
from dpo.streaming.items import SEEN, FeedItem

ITEM = FeedItem(
    id=1,
    chain_id=1,
    contract_address="0x" + "1" * 40,
    contract_name="Issuance",
    event_name="Transfer",
    block_number=1,
    block_hash="0x" + "2" * 64,
    block_timestamp=None,
    tx_hash="0x" + "3" * 64,
    tx_index=0,
    log_index=0,
    args={},
    removed=False,
    removes_id=None,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        sample.name + repr(sorted(sample.labels.items())): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def test_observing_all_at_once_fills_the_buckets_one_by_one_would() -> None:
    rng = random.Random(3)
    values = [rng.choice(LATENCY_BUCKETS[:-1]) for _ in range(50)]  # on the bounds too
    values += [rng.uniform(0, 8) for _ in range(500)] + [0.0, 1e9]
    one, batched = CollectorRegistry(), CollectorRegistry()
    single = Histogram("h_seconds", "h", buckets=LATENCY_BUCKETS, registry=one)
    together = Histogram("h_seconds", "h", buckets=LATENCY_BUCKETS, registry=batched)
    for value in values:
        single.observe(value)
    observe_all(together, values)
    got, expected = samples(batched), samples(one)
    sum_key = next(key for key in expected if key.startswith("h_seconds_sum"))
    assert abs(got.pop(sum_key) - expected.pop(sum_key)) < 1e-6
    assert got == expected


async def test_a_tally_adds_every_frame_as_the_task_path_observes_it_after_the_pass() -> None:
    registry = CollectorRegistry()
    transport = Counter("t", "t", registry=registry)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    item = ITEM
    item.memo[SEEN] = created.timestamp() + 1.0
    tally = FrameTally()

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    names: tuple[tuple[str, dict[str, str]], ...] = (
        ("dpo_feed_fanout_frames_total", {}),
        ("dpo_feed_shared_frames_total", {}),
        ("dpo_feed_frame_seconds_count", {}),
        ("dpo_feed_frame_seconds_bucket", {"le": "0.005"}),
        ("dpo_feed_frame_seconds_bucket", {"le": "+Inf"}),
        ("dpo_feed_delivery_seconds_count", {}),
        ("dpo_feed_delivery_seconds_bucket", {"le": "5.0"}),
    )
    before = [value(name, **labels) for name, labels in names]
    written = created.timestamp() + 1.0
    for shared in (False, True, True):
        tally.add(written + 0.001, item, shared, transport)  # 1 ms after `seen`, 1 s after insert
    assert registry.get_sample_value("t_total") == 0  # nothing yet, mid-pass
    await asyncio.sleep(0)
    after = [value(name, **labels) for name, labels in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 2, 3, 3, 3, 3, 3]
    assert registry.get_sample_value("t_total") == 3

"""The rate limiter's memory of refused buckets (dpo.ratelimit.RefusedBuckets)."""

from __future__ import annotations

import time

import pytest

from dpo.ratelimit import RefusedBuckets


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def test_a_refused_bucket_is_refused_until_its_wait_is_over(clock: list[float]) -> None:
    refused = RefusedBuckets()
    assert refused.retry_after("anon:a") == 0
    refused.remember("anon:a", 2_500)
    assert refused.retry_after("anon:a") == 3
    assert refused.retry_after("anon:b") == 0
    clock[0] += 2.4
    assert refused.retry_after("anon:a") == 1
    clock[0] += 0.2
    assert refused.retry_after("anon:a") == 0


def test_it_holds_at_most_its_size_forgetting_the_oldest(clock: list[float]) -> None:
    refused = RefusedBuckets(size=3)
    for key in ("a", "b", "c"):
        refused.remember(key, 10_000)
    refused.remember("b", 20_000)  # known already: nothing forgotten
    assert [refused.retry_after(k) for k in ("a", "b", "c")] == [10, 20, 10]
    refused.remember("d", 10_000)
    assert refused.retry_after("a") == 0
    assert [refused.retry_after(k) for k in ("b", "c", "d")] == [20, 10, 10]

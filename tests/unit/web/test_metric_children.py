"""Metric children kept by label values: the same child `labels()` gives, made once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from app.http import metrics
from app.http.metric_children import Children


def test_a_child_is_the_metrics_own_and_made_once() -> None:
    counter = Counter("t_total", "t", ["a", "b"], registry=CollectorRegistry())
    children = Children(counter)
    child = children["x", "y"]
    assert child is counter.labels("x", "y")
    assert children["x", "y"] is child
    children["x", "y"].inc(2)
    assert counter.labels("x", "y")._value.get() == 2
    assert list(children) == [("x", "y")]


def test_the_request_metrics_count_through_their_children() -> None:
    before = metrics.HTTP_REQUESTS.labels("GET", "/t", "204")._value.get()
    metrics._HTTP_REQUESTS["GET", "/t", "204"].inc()
    assert metrics.HTTP_REQUESTS.labels("GET", "/t", "204")._value.get() == before + 1

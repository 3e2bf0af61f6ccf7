"""Prometheus children kept by label values (app.http.metrics)."""

from __future__ import annotations

from typing import Any


class Children(dict[tuple[str, ...], Any]):
    """A metric's children by label values, so each is looked up by one dict subscript.

    `labels()` validates and joins the values under a lock on every call (~10 Python calls);
    our label values are bounded (methods, route templates, statuses, capped operation names,
    known codes), so the children are kept here once made.
    """

    def __init__(self, metric: Any) -> None:
        super().__init__()
        self.metric = metric

    def __missing__(self, key: tuple[str, ...]) -> Any:
        child = self[key] = self.metric.labels(*key)
        return child

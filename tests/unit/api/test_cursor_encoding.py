"""Cursors are the same text whichever encoder writes their JSON, and decode as before."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest

from dpo.services.cursors import _to_json, encode_cursor


def previous(ordering: str, values: list[Any]) -> str:
    """The encoding as it was: json.dumps only."""
    payload = json.dumps({"o": ordering, "k": [_to_json(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode()


class Colour(StrEnum):
    RED = "red"


UTC = dt.UTC
VALUES: list[list[Any]] = [
    [],
    [1],
    [0, -1, 2**63 - 1, -(2**63), 2**64 - 1],
    [2**64, -(2**64) - 1, 10**30],  # past what orjson writes
    ["".join(chr(c) for c in range(128))],  # every ASCII character, controls escaped
    ["Zürich", "東京", "emoji \U0001f600", "\u2028\u2029"],  # escaped by json.dumps only
    ["\ud800"],  # a lone surrogate
    [True, False, None],
    [
        dt.datetime(2026, 12, 6, 5, 0, tzinfo=UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    ],
    [dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))), 7],
    [dt.datetime(2026, 1, 2, 3, 4, 5)],  # naive
    [
        Decimal("10.125"),
        Decimal("-0"),
        Decimal("1E+3"),
        Decimal("123456789012345678901234567890.5"),
    ],
    [1.5, 1e16, 0.1],  # floats take json.dumps
    [Colour.RED, "x"],
    [True, dt.datetime(2026, 6, 1, tzinfo=UTC), 42],  # a nullable key's shape
    [False, None, 42],
]


@pytest.mark.parametrize("values", VALUES)
def test_same_text_as_json_dumps(values: list[Any]) -> None:
    for ordering in ("offering:created_at:asc", "näme"):
        assert encode_cursor(ordering, values) == previous(ordering, values)
        assert encode_cursor(ordering, tuple(values)) == previous(ordering, values)


def test_common_cursors_are_written_without_the_json_module() -> None:
    """A page encodes one cursor per row: the plain case must not go through json.dumps."""
    values = [True, dt.datetime(2026, 6, 1, tzinfo=UTC), 42, "name"]
    calls: list[str] = []

    def watch(frame: Any, event: str, _: Any) -> None:
        if event == "call":
            calls.append(frame.f_code.co_filename)

    sys.setprofile(watch)
    try:
        encode_cursor("offering:opens_at:asc", values)
    finally:
        sys.setprofile(None)
    assert not [name for name in calls if name.endswith(("json/__init__.py", "json/encoder.py"))]

"""The pure rules of batched header fetches: what refuses batching, how items are matched."""

from __future__ import annotations

from typing import Any

import pytest

from listener.rpc_batch import batch_refusal, match_items, to_header
from listener.rpc_policy import AttemptError


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (413, None),
        (200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid"}}),
        (200, {"id": None, "error": {"code": -32000, "message": "Batch size limit exceeded"}}),
        (400, {"error": {"code": -32005, "message": "batch requests are not supported"}}),
        (
            200,
            [
                {"id": 1, "error": {"code": -32000, "message": "batch too large"}},
                {"id": 2, "error": {"code": -32000, "message": "batch too large"}},
            ],
        ),
    ],
)
def test_refusals_of_batching(status: int, payload: Any) -> None:
    assert batch_refusal(status, payload) is not None


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (200, [{"id": 1, "result": None}]),
        (500, None),
        (200, {"id": 1, "error": {"code": -32000, "message": "header not found"}}),
        (200, {"id": 1, "result": {}}),  # not an array: a fault, retried
        (
            200,
            [
                {"id": 1, "error": {"code": -32000, "message": "batch too large"}},
                {"id": 2, "result": None},
            ],
        ),  # one item only: a fault of that item
        (200, []),
    ],
)
def test_faults_are_not_refusals(status: int, payload: Any) -> None:
    assert batch_refusal(status, payload) is None


def test_items_are_matched_by_id_in_any_order() -> None:
    payload = [
        {"id": 3, "result": "c"},
        "junk",
        {"id": 1, "result": "a"},
        {"id": 99, "result": "x"},
        {"id": 2, "result": "b"},
    ]
    assert [item["result"] for item in match_items(payload, [1, 2, 3])] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "payload",
    [
        [{"id": 1, "result": "a"}],
        [{"id": 1, "result": "a"}, {"id": "2", "result": "b"}],
        [{"id": 1, "result": "a"}, {"id": 7, "result": "b"}],
        [],
    ],
)
def test_a_missing_item_fails_the_batch(payload: list[Any]) -> None:
    with pytest.raises(AttemptError, match="lacks"):
        match_items(payload, [1, 2])


def test_headers_get_int_number_and_timestamp() -> None:
    assert to_header(None) is None
    assert to_header({"number": "0x10", "timestamp": "0x5", "hash": "0xab"}) == {
        "number": 16,
        "timestamp": 5,
        "hash": "0xab",
    }

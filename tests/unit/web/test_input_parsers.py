"""The shared input checks: digits, integers, text, global ids, cursors, WebSocket messages."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import BigInteger, DateTime, String, column

from app.subscriptions.ws_messages import message_problem
from dpo.errors import ValidationError
from dpo.inputs import BIGINT_MAX, find_bad_text, is_ascii_digits, parse_ascii_int, text_problem
from dpo.services.pagination import (
    Ordering,
    SortKey,
    decode_cursor,
    decode_sequence,
    encode_cursor,
)
from schema.relay import from_global_id


@pytest.mark.parametrize("text", ["0", "7", "0123", "9" * 40])
def test_ascii_digits(text: str) -> None:
    assert is_ascii_digits(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 7",
        "7 ",
        "+7",
        "-7",
        "1_000",
        "\u00b2",
        "\u0661",
        "\uff17",
        "7\n",
        "1e3",
        "0x10",
        None,
        7,
    ],
)
def test_not_ascii_digits(text: Any) -> None:
    assert not is_ascii_digits(text)


def test_parse_ascii_int_bounds() -> None:
    assert parse_ascii_int(str(BIGINT_MAX)) == BIGINT_MAX
    for bad in (str(BIGINT_MAX + 1), "9" * 5000, "\u0661\u0662", ""):
        with pytest.raises(ValueError):  # noqa: PT011
            parse_ascii_int(bad)


def test_text_problems() -> None:
    assert text_problem("plain") is None
    assert text_problem("été ✓ 日本") is None
    assert "NUL" in str(text_problem("a\x00b"))
    assert "surrogate" in str(text_problem("a\ud800b"))
    found = find_bad_text({"a": [1, {"b": "ok", "c": ["x\x00"]}]}, "$")
    assert found is not None
    assert found[0] == "$.a[1].c[0]"
    assert find_bad_text({"k\x00": 1}, "$") is not None
    deep: Any = "x\x00"
    for _ in range(10_000):  # deeper than the recursion limit: the walk is iterative
        deep = [deep]
    assert find_bad_text(deep) is not None


def gid(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "raw",
    [
        f"Offering:{2**63}",
        "Offering:" + "9" * 30,
        "Offering:0",
        "Offering:\u0661",
        "Offering: 1",
        "Offering:+1",
        "Offering:1_0",
        "Offering:",
        ":1",
        "Offering:1\x00",
    ],
)
def test_global_ids_out_of_range_or_not_ascii(raw: str) -> None:
    with pytest.raises(ValidationError):
        from_global_id(gid(raw), expect="Offering")


def test_global_id_limits() -> None:
    assert from_global_id(gid(f"Offering:{BIGINT_MAX}"), expect="Offering")[1] == BIGINT_MAX
    for bad in ("A" * 201, "\ud800", "\x00"):
        with pytest.raises(ValidationError):
            from_global_id(bad)


TYPED = Ordering(
    name="typed",
    keys=(
        SortKey(column("at", DateTime(timezone=True)), nullable=True),
        SortKey(column("name", String())),
        SortKey(column("id", BigInteger())),
    ),
)


def raw_cursor(keys: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": "typed", "k": keys}).encode()).decode()


def test_typed_cursor_round_trip() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert decode_cursor(TYPED, encode_cursor("typed", [False, at, "n", 5])) == [False, at, "n", 5]
    assert decode_cursor(TYPED, raw_cursor([True, None, "n", 5])) == [True, None, "n", 5]


@pytest.mark.parametrize(
    "keys",
    [
        ["x", None, "n", 5],
        [False, 5, "n", 5],
        [False, {"t": "2026-01-01T00:00:00"}, "n", 5],
        [False, None, 5, 5],
        [False, None, "n\x00", 5],
        [False, None, "n", "5"],
        [False, None, "n", 2**63],
        [False, None, "n", True],
        [False, None, "n", None],
        [False, None, None, 5],
        [False, None, "n", {"d": "NaN"}],
        [False, None, "n", 1.5],
    ],
)
def test_cursor_values_of_the_wrong_type_are_refused(keys: list[Any]) -> None:
    with pytest.raises(ValidationError):
        decode_cursor(TYPED, raw_cursor(keys))


def test_cursor_length_is_bounded() -> None:
    with pytest.raises(ValidationError):
        decode_cursor(TYPED, raw_cursor([False, None, "n" * 2000, 5]))


def test_feed_sequence() -> None:
    assert decode_sequence("0") == 0
    assert decode_sequence(str(BIGINT_MAX)) == BIGINT_MAX
    for bad in (str(BIGINT_MAX + 1), "12\n", "\u0661", "-1", "", " 1"):
        with pytest.raises(ValidationError):
            decode_sequence(bad)


@pytest.mark.parametrize(
    "message",
    [
        [],
        "x",
        1,
        None,
        {"type": 1},
        {},
        {"type": "subscribe", "id": "1", "payload": None},
        {"type": "subscribe", "id": "1"},
        {"type": "subscribe", "id": 1, "payload": {"query": ""}},
        {"type": "subscribe", "id": "", "payload": {"query": ""}},
        {"type": "subscribe", "id": "x" * 257, "payload": {"query": ""}},
        {"type": "start", "id": "1", "payload": {"query": 5}},
        {"type": "subscribe", "id": "1", "payload": {"query": ""}},
        {"type": "subscribe", "id": "1", "payload": {"query": " \n"}},
        {"type": "start", "id": "1", "payload": {"query": "", "variables": []}},
        {"type": "subscribe", "id": "1", "payload": {"query": "", "operationName": {}}},
        {"type": "subscribe", "id": "1", "payload": {"query": "", "extensions": "x"}},
        {"type": "complete"},
        {"type": "stop", "id": {}},
    ],
)
def test_malformed_messages(message: Any) -> None:
    assert message_problem(message) is not None


@pytest.mark.parametrize(
    "message",
    [
        {"type": "connection_init"},
        {"type": "ping", "payload": [1]},
        {"type": "whatever"},
        {
            "type": "subscribe",
            "id": "1",
            "payload": {
                "query": "{ a }",
                "variables": None,
                "operationName": None,
                "extensions": {},
            },
        },
        {"type": "complete", "id": "1"},
    ],
)
def test_well_formed_messages(message: Any) -> None:
    assert message_problem(message) is None


def test_the_view_parses_content_types_as_strawberry_does() -> None:
    import strawberry.http.async_base_view as strawberry_view
    from strawberry.http.parse_content_type import parse_content_type as by_email

    from app.graphql import view  # noqa: F401  (the view's module installs the parser)
    from app.graphql.http import parse_content_type

    assert vars(strawberry_view)["parse_content_type"] is parse_content_type
    for value in (
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/json; charset=latin-1",
        'multipart/form-data; boundary="x y"',
        "text/plain",
        "",
        "application/json; charset=utf-8; x=1",
    ):
        assert parse_content_type(value) == by_email(value)
    mime, params = parse_content_type("application/json; charset=utf-8")
    params["charset"] = "changed"  # each caller gets its own parameters
    assert parse_content_type("application/json; charset=utf-8") == (mime, {"charset": "utf-8"})

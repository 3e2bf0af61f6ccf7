"""Content negotiation (app.http.negotiation) and the request-error rewrite (app.http.media)."""

from __future__ import annotations

import json

import pytest

from app.http.media import request_error_body
from app.http.negotiation import (
    GRAPHQL_JSON,
    JSON,
    accepts_event_stream,
    is_subscription,
    json_media_type,
    streams,
)

APOLLO = "application/graphql-response+json,application/json;q=0.9"
APOLLO_MULTIPART = (
    'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,'
    "application/graphql-response+json,application/json;q=0.9"
)
URQL = (
    "application/graphql-response+json, application/graphql+json, application/json, "
    "text/event-stream, multipart/mixed"
)
URQL_SUBSCRIPTION = "text/event-stream, multipart/mixed"
SSE = "text/event-stream"


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (JSON, JSON),
        (GRAPHQL_JSON, GRAPHQL_JSON),
        (APOLLO, GRAPHQL_JSON),
        (URQL, GRAPHQL_JSON),
        ("application/json, application/graphql-response+json;q=0.5", JSON),
        ("application/graphql-response+json;q=0, application/json", JSON),
        ("application/json;q=0, */*", GRAPHQL_JSON),
        (SSE, None),
        (URQL_SUBSCRIPTION, None),
        ("text/html", None),
        ("garbage", JSON),
        ("application/json;q=abc", None),
    ],
)
def test_json_media_type(accept: str | None, media: str | None) -> None:
    assert json_media_type(accept) == media


def test_stream_choice() -> None:
    assert not accepts_event_stream("*/*")
    assert accepts_event_stream(URQL)
    assert not accepts_event_stream("text/event-stream;q=0")
    assert streams(SSE, subscription=False)  # graphql-sse runs queries over the stream
    assert streams(URQL_SUBSCRIPTION, subscription=True)
    assert streams(URQL, subscription=True)
    assert not streams(URQL, subscription=False)  # urql's query gets JSON
    assert not streams(APOLLO, subscription=True)  # answered with UNSUPPORTED_TRANSPORT


@pytest.mark.parametrize(
    ("query", "name", "expected"),
    [
        ("subscription { events { cursor } }", None, True),
        ("subscription S { events { cursor } }", "S", True),
        ("query Q { a } subscription S { b }", "S", True),
        ("query Q { a } subscription S { b }", "Q", False),
        ("query Q { a } subscription S { b }", None, False),  # ambiguous: the view says so
        ("{ subscription }", None, False),
        ('query { a(x: "subscription") }', None, False),
        ("subscription {", None, False),
        (None, None, False),
        (7, None, False),
        ("subscription { a }", 5, False),
    ],
)
def test_is_subscription(query: object, name: object, expected: bool) -> None:
    assert is_subscription(query, name) is expected


def _body(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def test_request_errors_lose_data_and_get_400() -> None:
    error = {"message": "Syntax Error", "extensions": {"code": "VALIDATION"}}
    body, status = request_error_body(_body({"data": None, "errors": [error]}), 200) or (b"", 0)
    assert status == 400
    assert json.loads(body) == {"errors": [error]}
    unauthenticated = {
        "data": None,
        "errors": [{"message": "bad token", "extensions": {"code": "UNAUTHENTICATED"}}],
    }
    body, status = request_error_body(_body(unauthenticated), 401) or (b"", 0)
    assert status == 401
    assert "data" not in json.loads(body)


def test_answers_that_are_not_request_errors_are_left_alone() -> None:
    field = {"message": "no", "path": ["offering"], "extensions": {"code": "FORBIDDEN"}}
    assert request_error_body(_body({"data": None, "errors": [field]}), 200) is None
    assert request_error_body(_body({"data": {"a": 1}}), 200) is None
    assert request_error_body(_body({"data": None}), 200) is None
    assert request_error_body(b'{"data":null,"errors":', 200) is None
    assert request_error_body(b'{"errors":[]}', 400) is None


def test_the_answers_for_an_accept_header_are_remembered_and_bounded() -> None:
    from app.http.negotiation import ACCEPT_CACHE_SIZE

    header = "application/graphql-response+json, application/json;q=0.9, x/remembered"
    json_media_type.cache_clear()
    accepts_event_stream.cache_clear()
    for _ in range(3):
        assert json_media_type(header) == GRAPHQL_JSON
        assert accepts_event_stream(header) is False
    assert json_media_type.cache_info().hits == 2
    assert accepts_event_stream.cache_info().hits == 2
    for i in range(ACCEPT_CACHE_SIZE * 2):
        json_media_type(f"text/x-{i}")
    assert json_media_type.cache_info().currsize == ACCEPT_CACHE_SIZE

"""The access token of a connection_init payload in every shape clients send, and the reason."""

from __future__ import annotations

import pytest

from app.subscriptions.ws_auth import EXPECTED, MAX_REASON_BYTES, rejection_reason, token_of


@pytest.mark.parametrize(
    "params",
    [
        {"authorization": "Bearer abc"},
        {"Authorization": "Bearer abc"},
        {"authorization": "bearer   abc  "},
        {"token": "abc"},
        {"token": "Bearer abc"},
        {"authToken": "abc"},
        {"authToken": "Bearer abc"},
        {"headers": {"Authorization": "Bearer abc"}},
        {"headers": {"authorization": "Bearer abc"}},
        {"headers": {"authorization": "Bearer abc"}, "other": 1},
    ],
)
def test_each_shape_gives_the_token(params: dict[str, object]) -> None:
    assert token_of(params) == "abc"


@pytest.mark.parametrize(
    "params",
    [
        None,
        [],
        "Bearer abc",
        {},
        {"jwt": "abc"},
        {"authorization": "Basic abc"},
        {"authorization": 7},
        {"headers": "Bearer abc"},
        {"headers": {"Authorization": ["x"]}},
        {"token": 7},
        {"authorization": "Bearer "},
    ],
)
def test_no_token(params: object) -> None:
    assert not token_of(params)


def test_the_top_level_wins_over_headers() -> None:
    assert (
        token_of({"authorization": "Bearer top", "headers": {"Authorization": "Bearer h"}}) == "top"
    )


def test_reasons_say_what_is_expected() -> None:
    assert rejection_reason("UNAUTHENTICATED", EXPECTED) == f"UNAUTHENTICATED: {EXPECTED}"
    expired = rejection_reason("UNAUTHENTICATED", "access token expired")
    assert expired.startswith("UNAUTHENTICATED: access token expired; ")
    assert "Bearer" in expired
    long = rejection_reason("UNAUTHENTICATED", "é" * 300)
    assert len(long.encode()) <= MAX_REASON_BYTES

"""Whether a request carries API-key headers: the same answer as a lookup per header name."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from starlette.datastructures import Headers

from dpo.auth.api_keys import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, has_api_key_headers

RAW = [
    [],
    [(b"authorization", b"Bearer x")],
    [(b"x-api-key", b"k")],
    [(b"x-timestamp", b"1")],
    [(b"x-signature", b"s")],
    [(b"content-type", b"application/json"), (b"x-signature", b"s"), (b"x-signature", b"t")],
    [(b"X-API-KEY", b"k")],  # a raw name not lowercased: neither way finds it
    [(b"x-api-keys", b"k"), (b"x-timestamps", b"1"), (b"api-key", b"k")],
]


def looked_up(headers: Mapping[str, str]) -> bool:
    """The former answer: each name looked up with `in`."""
    return any(name in headers for name in (KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))


@pytest.mark.parametrize("raw", RAW)
def test_same_answer_as_looking_each_name_up(raw: list[tuple[bytes, bytes]]) -> None:
    for headers in (
        Headers(raw=raw),
        Headers(headers={name.decode(): value.decode() for name, value in raw}),
        {name.decode(): value.decode() for name, value in raw},
    ):
        assert has_api_key_headers(headers) == looked_up(headers), headers


def test_each_name_alone_is_found() -> None:
    for name in (KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "X-Signature"):
        assert has_api_key_headers(Headers(headers={name: "v"}))
    assert not has_api_key_headers(Headers(headers={"authorization": "Bearer x"}))

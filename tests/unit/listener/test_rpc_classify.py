"""Pure rules of the RPC client: classification, range hints, backoff, Retry-After, redaction."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from listener.rpc_policy import (
    RangeHint,
    Verdict,
    backoff_delay,
    classify_rpc_error,
    endpoint_label,
    is_range_error,
    parse_range_hint,
    parse_retry_after,
    scrub,
)

# (provider text, suggested range, stated block-range limit)
RANGE_TEXTS: list[tuple[int | None, str, tuple[int, int] | None, int | None]] = [
    (-32005, "query returned more than 10000 results", None, None),
    (
        -32005,
        "query returned more than 10000 results. Try with this block range [0x1A2B, 0x1A3F].",
        (0x1A2B, 0x1A3F),
        None,
    ),
    (
        -32602,
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K "
        "block range and no limit on the response size, or you can request any block "
        "range with a cap of 10K logs in the response. Based on your parameters, this "
        "block range should work: [0x1, 0x2]",
        (1, 2),
        2000,
    ),
    (-32000, "block range is too wide", None, None),
    (-32614, "eth_getLogs is limited to a 10,000 range", None, 10000),
    (-32000, "eth_getLogs and eth_newFilter are limited to a 10000 blocks range", None, 10000),
    (-32602, "range should work: [0x10, 0x20]", (16, 32), None),
    (-32000, "try with this block range [0x64, 0xc8]", (100, 200), None),
    (-32000, "block range too large", None, None),
    (-32000, "exceed maximum block range: 5000", None, 5000),
    (-32600, "requested too many blocks from 0 to 20000, maximum is set to 2048", None, 2048),
    (-32000, "Block range limit exceeded.", None, None),
    (-32602, "Query timeout exceeded. Consider reducing your block range", None, None),
    (-32000, "max range: 3500", None, 3500),
    (-32000, "query exceeds max results 20000, retry with the range 100-200", None, None),
    (-32005, "block range greater than 1000 max", None, 1000),
    (None, "Try with this block range [1000, 1999]", (1000, 1999), None),
]


@pytest.mark.parametrize(("code", "text", "suggested", "max_range"), RANGE_TEXTS)
def test_range_refusals_are_recognised_with_their_hints(
    code: int | None,
    text: str,
    suggested: tuple[int, int] | None,
    max_range: int | None,
) -> None:
    assert is_range_error(text)
    assert classify_rpc_error(code, text, "eth_getLogs") is Verdict.RANGE
    assert parse_range_hint(text) == RangeHint(suggested=suggested, max_range=max_range)


def test_range_texts_of_other_methods_are_not_range_errors() -> None:
    assert (
        classify_rpc_error(-32005, "query returned more than 10000 results", "eth_call")
        is Verdict.RETRY
    )


def test_a_backwards_suggested_range_is_ignored() -> None:
    assert parse_range_hint("try with this block range [0x20, 0x10]").suggested is None


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (-32601, "the method eth_foo does not exist/is not available"),
        (-32602, "invalid params: cannot unmarshal hex string without 0x prefix"),
        (3, "execution reverted: Paused"),
        (-32000, "execution reverted"),
        (-32700, "parse error"),
        (-32600, "invalid request"),
        (-32000, "invalid argument 0: hex string has length 3, want 40 for common.Address"),
        (None, "something odd"),
        (12345, "custom failure"),
    ],
)
def test_final_errors(code: int | None, text: str) -> None:
    assert classify_rpc_error(code, text, "eth_getLogs") is Verdict.FATAL
    assert not is_range_error(text)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (-32005, "limit exceeded"),
        (-32005, "daily request count exceeded, request rate limited"),
        (-32603, "internal error"),
        (-32000, "header not found"),
        (-32000, "missing trie node 0xabc (path ) <nil>"),
        (-32602, "BlockOutOfRangeError: block height is 6 but requested was 7"),
        (-32000, "requested block 90 after last accepted block 89"),
        (-32000, "request timed out"),
        (-32000, "some brand new transient node problem"),
        (-32011, "backend unhealthy"),
        (429, "Too Many Requests"),
        (-32007, "request limit reached - reduce calls per second"),
        (None, "upstream connect error or disconnect/reset before headers"),
    ],
)
def test_retryable_errors(code: int | None, text: str) -> None:
    assert classify_rpc_error(code, text, "eth_getLogs") is Verdict.RETRY


def test_backoff_stays_within_the_capped_exponential_ceiling() -> None:
    rng = random.Random(42)
    for attempt in range(12):
        ceiling = min(5.0, 0.25 * 2**attempt)
        delays = [backoff_delay(attempt, base=0.25, cap=5.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
        # Full jitter: the delays spread over the whole interval, not just near its top.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [backoff_delay(n, base=1, cap=30, rng=random.Random(7)) for n in range(5)]
    second = [backoff_delay(n, base=1, cap=30, rng=random.Random(7)) for n in range(5)]
    assert first == second
    assert backoff_delay(10_000, base=1, cap=30, rng=random.Random(1)) <= 30


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("120", 30.0),
        ("-4", 0.0),
        ("Sun, 29 Nov 2026 10:00:05 GMT", 5.0),
        ("Sun, 29 Nov 2026 11:00:00 GMT", 30.0),
        ("Sun, 29 Nov 2026 09:59:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, cap=30.0, now=now) == expected


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (
            "https://dark-red-river.nova-mainnet.quiknode.pro/0123456789abcdef0123456789abcdef/",
            "https://dark-red-river.nova-mainnet.quiknode.pro",
        ),
        ("https://arb-nova.g.alchemy.com/v2/SeCrEtKeY?x=1", "https://arb-nova.g.alchemy.com"),
        (
            "https://user:pa55word@rpc.example.com:8443/path?apikey=abc",
            "https://rpc.example.com:8443",
        ),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("wss://nova.example.org/ws/tok3n", "wss://nova.example.org"),
    ],
)
def test_endpoint_labels_carry_no_secret(url: str, label: str) -> None:
    assert endpoint_label(url) == label


def test_scrub_removes_tokens_from_echoed_texts() -> None:
    url = "https://name.quiknode.pro/0123456789abcdef0123456789abcdef/?key=topsecret"
    text = f"error calling {url}: token 0123456789abcdef0123456789abcdef rejected (topsecret)"
    cleaned = scrub(text, [url])
    assert "0123456789abcdef" not in cleaned
    assert "topsecret" not in cleaned
    assert "rejected" in cleaned

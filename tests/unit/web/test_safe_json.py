"""dpo.safe_json: the nesting bound, measured on the text, and decoding as the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from dpo.safe_json import MAX_DEPTH, JSONTooDeepError, loads, nesting_exceeds


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def mixed(depth: int) -> str:
    return '{"k": [' * (depth // 2) + '"x"' + "]}" * (depth // 2)


@pytest.mark.parametrize("shape", [arrays, objects, mixed])
def test_the_bound_is_exact(shape: Callable[[int], str]) -> None:
    assert loads(shape(MAX_DEPTH)) == json.loads(shape(MAX_DEPTH))
    with pytest.raises(JSONTooDeepError):
        loads(shape(MAX_DEPTH + 2))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"query": "{" * 500 + "[" * 500, "s": 'a\\"[[[[' + "]" * 99})
    assert loads(text)["query"].startswith("{{{")


def test_a_wide_document_is_not_deep() -> None:
    text = "[" + ",".join([arrays(MAX_DEPTH - 1)] * 1000) + "]"
    assert not nesting_exceeds(text, MAX_DEPTH)
    assert nesting_exceeds("[" + text + "]", MAX_DEPTH)


def test_too_deep_is_a_json_decode_error_and_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(json.JSONDecodeError):
        loads(b'{"variables": ' + arrays(1_000_000).encode() + b"}")
    assert time.perf_counter() - started < 5  # a bound for a 2 MB body, not a benchmark


@pytest.mark.parametrize("data", [b"\xff\xfe{", b'{"a": "\xc3"}', "", "{", "[1,]", b"nul"])
def test_bad_json_and_bad_utf8_are_json_decode_errors(data: str | bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(data)


def test_decoding_is_the_standard_librarys() -> None:
    text = '{"big": 18446744073709551617, "s": "\\ud800", "f": 1.5, "n": null}'
    assert loads(text) == json.loads(text)
    assert loads(memoryview(text.encode())) == json.loads(text)


def test_deep_json_cannot_crash_the_interpreter_even_with_a_huge_recursion_limit() -> None:
    """What killed `dpo web`: py_ecc's limit of 100,000 and a 100,000-deep document."""
    code = (
        "import sys; sys.setrecursionlimit(100_000); from dpo.safe_json import loads\n"
        "try:\n    loads('[' * 100_000 + ']' * 100_000)\n"
        "except ValueError as e:\n    print(type(e).__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "JSONTooDeepError"


@pytest.mark.parametrize("text", ["{", "[" * 100_000, "[" * 100 + "}" * 100, '{"a": [}'])
def test_brackets_that_do_not_pair_up_are_bad_json_not_too_deep(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        loads(text)
    assert not isinstance(raised.value, JSONTooDeepError)

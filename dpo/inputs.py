"""The primitive checks every parser of client input shares: digits, integers, text.

One place for what Python's built-ins get wrong for hostile input:

- `str.isdigit()` accepts '²' and '٣' and `int()` accepts '٣', ' 7', '+7' and '1_000': a
  client's number must be ASCII digits only (`is_ascii_digits`, `parse_ascii_int`).
- PostgreSQL's BIGINT holds at most 2**63 - 1: a larger database id or sequence number is
  not "not found", it is an error in the driver (`BIGINT_MAX`).
- PostgreSQL refuses U+0000 in text, and a lone surrogate ('\\ud800', which JSON's
  `\\uD800` escape produces) cannot be encoded as UTF-8 at all: text that reaches SQL must
  hold neither (`text_problem`, `find_bad_text`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

BIGINT_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")


def is_ascii_digits(text: object) -> bool:
    """Whether `text` is a non-empty string of the ASCII digits 0-9 and nothing else."""
    return isinstance(text, str) and _ASCII_DIGITS.fullmatch(text) is not None


def parse_ascii_int(text: object, *, max_value: int = BIGINT_MAX, max_digits: int = 19) -> int:
    """A non-negative integer written in ASCII digits, at most `max_value`; ValueError if not."""
    if not is_ascii_digits(text) or len(str(text)) > max_digits:
        raise ValueError("not a number of ASCII digits")
    value = int(str(text))
    if value > max_value:
        raise ValueError(f"above {max_value}")
    return value


def text_problem(text: str) -> str | None:
    """What makes `text` unstorable as PostgreSQL text, or None."""
    if "\x00" in text:
        return "must not contain NUL (U+0000) characters"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (no lone surrogates)"
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    # Iterative: a client's JSON may nest deeper than the interpreter's recursion limit.
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    yield f"{where}.{key} (a key)", key
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def find_bad_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """(path, problem) of the first string in a JSON value that `text_problem` refuses."""
    for where, text in _walk(value, path):
        problem = text_problem(text)
        if problem is not None:
            return where, problem
    return None

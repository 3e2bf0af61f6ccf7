"""JSON from clients, decoded with a bound on nesting that holds whatever the recursion limit.

The standard library's C decoder recurses on the C stack once per nesting level, guarded only
by the interpreter's recursion limit; a dependency that raises that limit (py_ecc sets it to
100,000) turns a 200 KB body of `[[[[…` into a segfault. So every client body, query
parameter, frame and cursor is decoded here: the nesting is measured on the text first, without
recursion, and only a document within MAX_DEPTH levels reaches the decoder. GraphQL variables
need a handful of levels; everything downstream (variable coercion, the response cache key,
which orjson encodes with its own 254-level limit) stays far from any limit.

The decoder stays the standard library's, so what is accepted and how numbers decode (exact
big integers) is what Strawberry always did.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Containers inside containers: {"variables": {"a": [[1]]}} is 4 levels deep.
MAX_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))

Document = str | bytes | bytearray | memoryview


class JSONTooDeepError(json.JSONDecodeError):
    """The document nests deeper than allowed.

    A JSONDecodeError, so a handler of bad JSON that does not know this case still refuses it.
    """

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels", "", 0)
        self.max_depth = max_depth


def loads(data: Document, *, max_depth: int = MAX_DEPTH) -> Any:
    """The decoded document.

    JSONTooDeepError past `max_depth`; json.JSONDecodeError for anything else that is not JSON
    (text that is not UTF-8 included). Text whose brackets do not pair up never reaches the
    decoder either: it would recurse into every opening bracket before noticing.
    """
    left = _unpaired(_skeleton(data), max_depth)
    if left:
        if _balanced(left):
            raise JSONTooDeepError(max_depth)
        raise json.JSONDecodeError("brackets do not pair up", "", 0)
    try:
        return json.loads(data.tobytes() if isinstance(data, memoryview) else data)
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError(f"not UTF-8 text: {error.reason}", "", error.start) from None


def nesting_exceeds(document: Document, max_depth: int) -> bool:
    """Whether the brackets of a JSON document nest deeper than `max_depth` (or do not pair up).

    Works on the text, at C speed and without recursion: strings are cut out, everything but
    brackets dropped, then each pass removes the innermost pairs; brackets left after
    `max_depth` passes nest deeper. A 1 MiB body takes a few milliseconds, up to ~150 ms for
    thousands of chains just under the limit (about what decoding such a body costs).
    """
    return bool(_unpaired(_skeleton(document), max_depth))


def _skeleton(document: Document) -> bytes:
    raw = (
        document.encode("utf-8", "surrogatepass") if isinstance(document, str) else bytes(document)
    )
    return _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)


def _unpaired(skeleton: bytes, max_depth: int) -> bytes:
    """The brackets left once `max_depth` levels of pairs are removed."""
    if re.search(rb"[\[{]{%d}" % (max_depth + 1), skeleton):
        return skeleton  # that many openers in a row: no need to pair them up
    for _ in range(max_depth):
        if not skeleton:
            break
        skeleton = skeleton.replace(b"[]", b"").replace(b"{}", b"")
    return skeleton


def _balanced(skeleton: bytes) -> bool:
    return skeleton.count(b"[") == skeleton.count(b"]") and skeleton.count(b"{") == skeleton.count(
        b"}"
    )

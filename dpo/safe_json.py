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
    (text that is not UTF-8 included).
    """
    if nesting_exceeds(data, max_depth):
        raise JSONTooDeepError(max_depth)
    try:
        return json.loads(data.tobytes() if isinstance(data, memoryview) else data)
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError(f"not UTF-8 text: {error.reason}", "", error.start) from None


def nesting_exceeds(document: Document, max_depth: int) -> bool:
    """Whether the brackets of a JSON document nest deeper than `max_depth`.

    Works on the text, at C speed and without recursion: strings are cut out, everything but
    brackets dropped, then each pass removes the innermost pairs; brackets left after
    `max_depth` passes nest deeper (or do not pair up: not JSON either way). A 1 MiB body takes
    a few milliseconds, up to ~150 ms for thousands of chains just under the limit (about what
    decoding such a body costs).
    """
    raw = (document.encode("utf-8", "surrogatepass") if isinstance(document, str)
           else bytes(document))
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if re.search(rb"[\[{]{%d}" % (max_depth + 1), skeleton):
        return True  # that many openers in a row: no need to pair them up
    for _ in range(max_depth):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"[]", b"").replace(b"{}", b"")
    return bool(skeleton)

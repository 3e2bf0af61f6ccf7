"""Keep the interpreter's recursion limit at CPython's default.

py_ecc (imported through eth_account) raises the limit to 100,000 when it is first imported.
The limit is what stops C code that recurses per nesting level (the standard JSON decoder,
repr, pickle, deep ASTs) before it overflows the C stack: at 100,000 one deeply nested request
crashes the process (SIGSEGV) instead of raising RecursionError. `restore_recursion_limit`
imports py_ecc first, so a later import cannot raise the limit again, then puts the default
back; the web service calls it when it builds the application and checks it at start-up.
"""

from __future__ import annotations

import importlib
import sys

# CPython's default: deep enough for every code path of ours, shallow enough for the C stack.
RECURSION_LIMIT = 1000
# Dependencies known to raise the limit when imported.
_RAISERS = ("py_ecc",)


def restore_recursion_limit() -> int:
    """Import the dependencies that raise the limit, then set it back; returns the old value."""
    for name in _RAISERS:
        importlib.import_module(name)
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(RECURSION_LIMIT)
    return previous

"""Which database errors are worth another attempt in the same process.

A terminated connection, a server restart or fail-over, a statement or lock timeout, a
serialization failure or deadlock: the transaction was rolled back (or its COMMIT's outcome is
unknown) and the same work can be done again from the checkpoint. asyncpg's InternalClientError
("cannot switch to state N; another operation is in progress") is the client side of the same
fault: a connection terminated while an operation was in flight is left in a state no further
statement can use, and a fresh connection does the work. Everything else (a
constraint, a ProjectionError, a bug) is not retried: it would fail the same way.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

# SQLSTATE classes and codes of errors another attempt may not meet (PostgreSQL appendix A).
TRANSIENT_CLASSES = ("08", "40", "53", "57")  # connection, rollback, resources, intervention
TRANSIENT_CODES = ("25P03", "55P03", "58000", "58030")  # idle timeout, lock, I/O


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else None


def is_transient_db_error(error: BaseException) -> bool:
    """Tell whether a database error (or one it was raised from) may pass on another try."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = _sqlstate(current)
        if state is not None and (state[:2] in TRANSIENT_CLASSES or state in TRANSIENT_CODES):
            return True
        if isinstance(
            current,
            (asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError, TimeoutError),
        ):
            return True
        if isinstance(current, OSError) and not isinstance(current, FileNotFoundError):
            return True
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


def describe(error: BaseException) -> str:
    """The driver's error class and SQLSTATE for the log; never parameters or credentials."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    state = next((s for s in map(_sqlstate, reversed(chain)) if s), None)
    name = type(chain[-1]).__name__
    return f"{name} (SQLSTATE {state})" if state else name

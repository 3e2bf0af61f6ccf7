"""A cProfile run's calls and own time per package, for bench/query_calls.py --by-package.

Each function is counted under the package its file is in: the first folder below
site-packages (graphql, strawberry, starlette, uvicorn, sqlalchemy, asyncpg, redis, ...), the
project's own top folder (app, dpo, schema, resolvers, ...) for its code, `builtins` for C
functions and methods (cProfile's `~`), `python` for the standard library. Own time (tottime)
is cProfile's, so it includes the profiler's own cost per call: read it as shares, not µs.
"""

from __future__ import annotations

import pstats
from pathlib import Path

STDLIB = Path(pstats.__file__).parent


def package_of(filename: str, code_root: Path) -> str:
    """The package a profiled function's file belongs to."""
    if filename == "~" or filename.startswith("<"):
        return "builtins"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        below = parts[parts.index("site-packages") + 1 :]
        return below[0].removesuffix(".py") if below else "site-packages"
    try:
        return path.relative_to(code_root).parts[0].removesuffix(".py")
    except ValueError:
        pass
    if path.is_relative_to(STDLIB):
        return "python"
    return "other"


def by_package(stats: pstats.Stats, code_root: Path) -> dict[str, tuple[int, float]]:
    """Package -> (calls, own seconds), largest own time first."""
    totals: dict[str, tuple[int, float]] = {}
    entries = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_primitive, calls, own, *_rest) in entries.items():
        package = package_of(filename, code_root)
        before = totals.get(package, (0, 0.0))
        totals[package] = (before[0] + calls, before[1] + own)
    return dict(sorted(totals.items(), key=lambda item: -item[1][1]))


def print_shares(name: str, totals: dict[str, tuple[int, float]], requests: int) -> None:
    """One line per package: calls per request and the share of the profiled own time."""
    seconds = sum(own for _calls, own in totals.values()) or 1.0
    print(f"  {name}: calls per request and share of own time, by package")
    for package, (calls, own) in totals.items():
        if own / seconds >= 0.005:
            print(f"    {package:<22}{calls / requests:>9,.0f}{own / seconds:>8.1%}")

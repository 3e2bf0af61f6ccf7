"""What uv.lock installs, and whether this interpreter has exactly that.

`uv sync` installs the versions uv.lock records; anything installed another way (a bare
`pip install`, an old virtualenv) may hold other versions than the ones CI tested. The
deployment check and the test suite compare the installed distributions with the lock.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import Marker

PROJECT = "dpo-platform"
LOCK_FILE = Path(__file__).resolve().parents[1] / "uv.lock"
# Extras that only development and tests use; a production install has none of them.
DEV_EXTRAS = ("dev", "embedded")


class LockError(ValueError):
    """uv.lock is missing, unreadable or does not describe this project."""


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (case, `-`, `_` and `.` alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK_FILE) -> dict[str, Any]:
    """The parsed lock file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise LockError(f"{path.name} does not exist: the install is not reproducible") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise LockError(f"{path.name} cannot be read: {error}") from error


@dataclass(frozen=True)
class _Entry:
    name: str
    version: str
    dependencies: tuple[dict[str, Any], ...]
    optional: dict[str, tuple[dict[str, Any], ...]]


def _entries(lock: Mapping[str, Any]) -> dict[str, list[_Entry]]:
    by_name: dict[str, list[_Entry]] = {}
    for package in lock.get("package", []):
        entry = _Entry(
            name=canonical(package["name"]),
            version=str(package.get("version", "")),
            dependencies=tuple(package.get("dependencies", [])),
            optional={
                extra: tuple(deps)
                for extra, deps in package.get("optional-dependencies", {}).items()
            },
        )
        by_name.setdefault(entry.name, []).append(entry)
    return by_name


def _applies(dependency: Mapping[str, Any], environment: Mapping[str, str] | None) -> bool:
    marker = dependency.get("marker")
    if not marker:
        return True
    env = {"extra": "", **(environment or {})}
    return Marker(marker).evaluate(env)


def locked_versions(
    lock: Mapping[str, Any],
    extras: Iterable[str] = (),
    *,
    environment: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Name -> version of each package the lock installs for the project with `extras`.

    Markers are evaluated for `environment` (this interpreter when None); the project itself
    is left out (it is installed from the working tree, not from an index).
    """
    by_name = _entries(lock)
    if PROJECT not in by_name:
        raise LockError(f"uv.lock does not describe {PROJECT}")
    root = by_name[PROJECT][0]
    unknown = sorted(set(extras) - set(root.optional))
    if unknown:
        raise LockError(f"uv.lock has no extra {unknown[0]!r} for {PROJECT}")
    wanted: list[tuple[dict[str, Any], ...]] = [root.dependencies]
    wanted += [root.optional[extra] for extra in extras]
    result: dict[str, str] = {}
    seen: set[tuple[str, str, str]] = set()
    pending = [dep for deps in wanted for dep in deps]
    while pending:
        dependency = pending.pop()
        if not _applies(dependency, environment):
            continue
        name = canonical(dependency["name"])
        if name == PROJECT:
            # A self-reference such as dev = ["dpo-platform[embedded]"].
            pending += [
                dep for extra in dependency.get("extra", []) for dep in root.optional.get(extra, ())
            ]
            continue
        candidates = by_name.get(name, [])
        if "version" in dependency:
            candidates = [c for c in candidates if c.version == dependency["version"]]
        if len(candidates) != 1:
            raise LockError(f"uv.lock has {len(candidates)} entries for {name}")
        entry = candidates[0]
        result[name] = entry.version
        for extra in ["", *dependency.get("extra", [])]:
            if (name, entry.version, extra) in seen:
                continue
            seen.add((name, entry.version, extra))
            pending += entry.dependencies if extra == "" else entry.optional.get(extra, ())
    return result


def installed_versions() -> dict[str, str]:
    """Name -> version of every distribution this interpreter can import from."""
    return {
        canonical(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }


def drift(locked: Mapping[str, str], installed: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, what is wrong) for each locked package missing or installed at another version."""
    found = []
    for name in sorted(locked):
        have = installed.get(name)
        if have is None:
            found.append((name, f"is not installed (uv.lock has {locked[name]})"))
        elif have != locked[name]:
            found.append((name, f"{have} is installed, uv.lock has {locked[name]}"))
    return found


def mismatches(locked: Mapping[str, str], installed: Mapping[str, str]) -> list[str]:
    """One line per locked package that is missing or installed at another version."""
    return [f"{name} {message}" for name, message in drift(locked, installed)]


def development_only(lock: Mapping[str, Any]) -> dict[str, str]:
    """Packages only the development extras bring in (test tools, embedded servers)."""
    production = locked_versions(lock)
    everything = locked_versions(lock, DEV_EXTRAS)
    return {name: version for name, version in everything.items() if name not in production}

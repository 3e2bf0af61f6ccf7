"""contracts/compile.mjs reproduces the committed artefacts and notices stale ones."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

NODE_MODULES = ROOT / "node_modules"
CONTRACTS = ROOT / "contracts"


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with the npm solc `make setup` installs; missing is a failure."""
    node = shutil.which("node")
    missing = [] if node else ["node"]
    if not (NODE_MODULES / "solc").is_dir():
        missing.append("node_modules/solc (run `npm ci`)")
    if missing:
        pytest.fail("missing " + ", ".join(missing))
    assert node is not None
    return node


def run(node: str, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a compile.mjs with the project's node_modules on the module path."""
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    return subprocess.run(
        [node, str(script), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_committed_artefacts_are_up_to_date(node: str) -> None:
    result = run(node, CONTRACTS / "compile.mjs", "--check")
    assert result.returncode == 0, result.stderr
    assert "4 artefacts up to date" in result.stdout


def test_check_fails_on_stale_missing_or_leftover_artefacts(node: str, tmp_path: Path) -> None:
    copy = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, copy)
    sto = copy / "src" / "STO.sol"
    sto.write_text(sto.read_text() + "\n// changed\n")
    (copy / "artifacts" / "Issuance.json").unlink()
    (copy / "artifacts" / "Old.json").write_text("{}\n")
    committed = (copy / "artifacts" / "STO.json").read_text()

    result = run(node, copy / "compile.mjs", "--check")
    assert result.returncode == 1
    assert "STO.json differs from the sources" in result.stderr
    assert "Issuance.json is missing" in result.stderr
    assert "Old.json has no contract" in result.stderr
    # --check writes nothing.
    assert (copy / "artifacts" / "STO.json").read_text() == committed
    assert not (copy / "artifacts" / "Issuance.json").exists()


def test_compile_errors_fail_the_build(node: str, tmp_path: Path) -> None:
    copy = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, copy)
    (copy / "src" / "Broken.sol").write_text("pragma solidity ^0.8.24;\ncontract Broken {\n")
    result = run(node, copy / "compile.mjs", "--check")
    assert result.returncode == 2
    assert "ParserError" in result.stderr

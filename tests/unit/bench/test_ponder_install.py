"""bench/ponder_install.py's pure parts: the Ponder config, ABIs and package.json it writes.

The bench itself (bench/ponder.py) runs Ponder and is never part of the suite; these cases
check what it would hand to Ponder, for both config shapes (1.0.0 is the 0.10 line, with
`networks`; 0.11 and later have `chains`), and that bad values are refused.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
ADDRESSES = {
    "Issuance": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "STO": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
}


def load(name: str) -> ModuleType:
    """A bench module by file (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def install() -> ModuleType:
    return load("ponder_install")


def test_config_of_the_networks_line(install: ModuleType) -> None:
    source = install.config_source("1.0.0", "http://127.0.0.1:8545", ADDRESSES, 7, 31337)
    assert 'import { http } from "viem";' in source
    assert (
        'networks: { anvil: { chainId: 31337, transport: http("http://127.0.0.1:8545"), '
        "maxRequestsPerSecond: 10000 } }," in source
    )
    assert (
        'Issuance: { network: "anvil", abi: ABIS.Issuance, '
        'address: "0x5fbdb2315678afecb367f032d93f642f64180aa3", startBlock: 7 },' in source
    )
    assert 'STO: { network: "anvil", abi: ABIS.STO,' in source
    assert "chains:" not in source
    assert "process.env.DATABASE_URL" in source


def test_config_of_the_chains_line(install: ModuleType) -> None:
    source = install.config_source("0.16.10", "http://127.0.0.1:8545", ADDRESSES, 0, 31337)
    assert 'chains: { anvil: { id: 31337, rpc: "http://127.0.0.1:8545" } },' in source
    assert 'Issuance: { chain: "anvil", abi: ABIS.Issuance,' in source
    assert "startBlock: 0 }" in source
    assert "networks:" not in source
    assert "viem" not in source


def test_new_block_push_for_the_chains_line_only(install: ModuleType) -> None:
    source = install.config_source(
        "0.16.10", "http://127.0.0.1:8545", ADDRESSES, 0, 31337, "ws://127.0.0.1:8545"
    )
    assert 'rpc: "http://127.0.0.1:8545", ws: "ws://127.0.0.1:8545" } },' in source
    with pytest.raises(ValueError, match="no new-block push"):
        install.config_source("1.0.0", "http://x", ADDRESSES, 0, 1, "ws://x")


@pytest.mark.parametrize(
    ("version", "chains"),
    [("1.0.0", False), ("0.10.7", False), ("0.11.13", True), ("0.16.10", True)],
)
def test_config_shape_by_version(install: ModuleType, version: str, chains: bool) -> None:
    assert install.uses_chains(version) is chains


@pytest.mark.parametrize("version", ["", "1.0", "latest", "1.0.0-beta.1", "^1.0.0", "1..0"])
def test_bad_versions_are_refused(install: ModuleType, version: str) -> None:
    with pytest.raises(ValueError, match="not a version number"):
        install.package_source(version)
    with pytest.raises(ValueError, match="not a version number"):
        install.config_source(version, "http://x", ADDRESSES, 0, 1)


def test_negative_start_block_is_refused(install: ModuleType) -> None:
    with pytest.raises(ValueError, match="start block"):
        install.config_source("1.0.0", "http://x", ADDRESSES, -1, 1)


def test_package_pins_ponder_exactly(install: ModuleType) -> None:
    package = json.loads(install.package_source("0.16.10"))
    assert package["dependencies"]["ponder"] == "0.16.10"
    assert set(package["dependencies"]) == {"ponder", "viem", "hono", "typescript"}
    assert install.folder_of("0.16.10").name == "ponder-0.16.10"


def test_abis_as_const(install: ModuleType) -> None:
    abi = [{"type": "event", "name": "Transfer", "inputs": [], "anonymous": False}]
    source = install.abis_source({"Issuance": abi})
    assert f"  Issuance: {json.dumps(abi)} as const," in source
    assert source.startswith("// Written by bench/ponder.py")
    assert "export const ABIS = {" in source


def test_the_app_sources_are_there(install: ModuleType) -> None:
    """write_app copies these; each registers what the bench reads."""
    app = install.APP
    assert "onchainTable(" in (app / "ponder.schema.ts").read_text()
    assert ".on(`${contractName}:${eventName}`" in (app / "src" / "index.ts").read_text()
    assert 'app.use("/graphql"' in (app / "src" / "api" / "index.ts").read_text()


@pytest.fixture(scope="module")
def parse_args(install: ModuleType) -> Any:
    sys.modules["ponder_install"] = install  # as bench/ on sys.path would give it
    try:
        return load("ponder_args").parse_args
    finally:
        del sys.modules["ponder_install"]


def test_default_flags(parse_args: Any) -> None:
    args = parse_args("bench", [])
    assert (args.events, args.ponder_version, args.latency, args.settle_blocks) == (
        200_000,
        "1.0.0",
        30,
        30,
    )
    assert parse_args("bench", ["--ponder-version", "0.16.10"]).ponder_version == "0.16.10"
    assert parse_args("bench", ["--ponder-version", "0.16.10", "--ponder-ws"]).ponder_ws


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ponder-version", "latest"], "not a version number"),
        (["--ponder-version", "1.0"], "not a version number"),
        (["--events", "0"], "take >= 1"),
        (["--rounds", "-1"], "take >= 1"),
        (["--clients", "0"], "take >= 1"),
        (["--events", "many"], "invalid int value"),
        (["--seconds", "0"], "--seconds and --timeout take > 0"),
        (["--timeout", "-5"], "--seconds and --timeout take > 0"),
        (["--latency", "1"], "--latency 0 or >= 2"),
        (["--latency", "-3"], "--latency 0 or >= 2"),
        (["--settle-blocks", "-1"], "--settle-blocks takes >= 0"),
        (["--ponder-ws"], "ponder 1.0.0 has no new-block push"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    parse_args: Any, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args("bench", flags)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err

"""The committed contract artefacts match their sources and load as Artifact objects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dpo.chain.artifacts import (
    ARTIFACTS_DIR,
    CONTRACT_ARTIFACTS,
    Artifact,
    ArtifactError,
    load_artifact,
)

SRC_DIR = ARTIFACTS_DIR.parent / "src"
NAMES = sorted(CONTRACT_ARTIFACTS.values())

# The events the listener's projections rely on, by contract: changing one is a breaking change.
EVENTS = {
    "Issuance": {
        "Transfer(address,address,uint256)",
        "Approval(address,address,uint256)",
        "Issued(uint256,address,uint256,bytes32)",
        "Redeemed(uint256,address,uint256,bytes32)",
        "InvestorVerified(address,address)",
        "InvestorUnverified(address,address)",
        "AddressFrozen(address,bool,address)",
        "TokensFrozen(address,uint256)",
        "TokensUnfrozen(address,uint256)",
        "Paused(address)",
        "Unpaused(address)",
    },
    "STO": {
        "OfferingCreated(uint256,address,bytes3,uint256,uint256,uint256,uint64,uint64)",
        "InvestmentReceived(uint256,address,uint256,uint256,bytes32)",
        "InvestmentRefunded(uint256,address,uint256,uint256,bytes32)",
        "OfferingClosed(uint256,uint256,uint256)",
        "OfferingCancelled(uint256,uint256,uint256)",
    },
    "DerivativesReporter": {
        "TradeReported(bytes32,uint8,address,uint32,string,uint256,bytes3,bytes32,bytes32)",
    },
    "EuroclearBridge": {
        "InstrumentRegistered(bytes12,address)",
        "TokensLocked(bytes32,bytes12,address,address,uint256,bytes32)",
        "TokensReleased(bytes32,bytes12,address,address,uint256,bytes32)",
        "TransferStatusChanged(bytes32,uint8,uint8)",
    },
}
ROLE_EVENTS = {
    "OwnershipTransferStarted(address,address)",
    "OwnershipTransferred(address,address)",
    "AgentAdded(address)",
    "AgentRemoved(address)",
}


def source_hash() -> str:
    """Recompute sourceHash as contracts/compile.mjs defines it."""
    digest = hashlib.sha256()
    for path in sorted(SRC_DIR.glob("*.sol"), key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def signatures(abi: list[dict[str, object]]) -> set[str]:
    """The canonical signatures of an ABI's events."""
    found = set()
    for item in abi:
        if item["type"] == "event":
            inputs = item["inputs"]
            assert isinstance(inputs, list)
            found.add(f"{item['name']}({','.join(i['type'] for i in inputs)})")
    return found


def test_exactly_the_four_artefacts_are_committed() -> None:
    assert sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_artefact_was_built_from_the_current_sources(name: str) -> None:
    text = (ARTIFACTS_DIR / f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["sourceHash"] == source_hash(), "run `node contracts/compile.mjs` and commit"
    assert data["contractName"] == name
    assert data["compiler"]["version"].startswith("0.8.30+")
    assert data["compiler"]["settings"]["optimizer"]["enabled"] is True
    # The committed form is the deterministic one compile.mjs writes.
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", NAMES)
def test_load_artifact_gives_abi_and_bytecode(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DPO_ABI_DIR", raising=False)
    artifact = load_artifact(name)
    assert isinstance(artifact, Artifact)
    assert artifact.name == name
    assert artifact.bytecode.startswith("0x6080")
    assert signatures(artifact.abi) == EVENTS[name] | ROLE_EVENTS


def test_dropped_in_abis_override_by_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = {"type": "event", "name": "Ping", "anonymous": False, "inputs": []}
    (tmp_path / "STO.json").write_text(json.dumps([event]))
    (tmp_path / "Issuance.json").write_text(
        json.dumps({"abi": [event], "bytecode": {"object": "6001"}})
    )
    (tmp_path / "EuroclearBridge.json").write_text(json.dumps({"abi": [event], "bytecode": "0x"}))
    monkeypatch.setenv("DPO_ABI_DIR", str(tmp_path))
    assert load_artifact("STO") == Artifact("STO", [event], "")
    assert load_artifact("Issuance") == Artifact("Issuance", [event], "0x6001")
    assert load_artifact("EuroclearBridge").bytecode == ""
    # Not dropped in: the bundled artefact.
    assert load_artifact("DerivativesReporter").bytecode.startswith("0x6080")


def test_bad_artefacts_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPO_ABI_DIR", str(tmp_path))
    (tmp_path / "STO.json").write_text("{not json")
    (tmp_path / "Issuance.json").write_text(json.dumps({"bytecode": "0x00"}))
    (tmp_path / "EuroclearBridge.json").write_text(json.dumps([1, 2]))
    for name in ("STO", "Issuance", "EuroclearBridge", "Nope", "../STO", ""):
        with pytest.raises(ArtifactError):
            load_artifact(name)

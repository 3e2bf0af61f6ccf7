"""Compiled ABIs and bytecode of the four contracts, by contract name.

The artefacts in `contracts/artifacts/<Name>.json` are built from `contracts/src` by
`node contracts/compile.mjs` and committed. Production may run other builds of the
contracts: set `DPO_ABI_DIR` to a folder holding `<Name>.json` files (e.g.
`Issuance.json`) and those are used instead, file by file; a name missing there falls back
to the bundled artefact. A dropped-in file may be our artefact format, any JSON object with
an `abi` list (Hardhat, Foundry; `bytecode` as a hex string or `{"object": ...}`), or a
bare ABI list, in which case the artefact has no bytecode and can only be read from, not
deployed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "contracts" / "artifacts"
ABI_DIR_ENV = "DPO_ABI_DIR"

# The runbook's address variables and the contract each one points at.
CONTRACT_ARTIFACTS: dict[str, str] = {
    "ISSUANCE_CONTRACT_ADDRESS": "Issuance",
    "STO_CONTRACT_ADDRESS": "STO",
    "DERIVATIVES_REPORTER_CONTRACT_ADDRESS": "DerivativesReporter",
    "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": "EuroclearBridge",
}


class ArtifactError(Exception):
    """An artefact is missing or not in a format we can read."""


@dataclass(frozen=True)
class Artifact:
    """A contract's ABI and creation bytecode (0x-prefixed hex, empty when unknown)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def artifact_path(name: str) -> Path:
    """Return the file an artefact is read from, honouring DPO_ABI_DIR."""
    override = os.environ.get(ABI_DIR_ENV, "").strip()
    if override:
        candidate = Path(override).expanduser() / f"{name}.json"
        if candidate.is_file():
            return candidate
    return ARTIFACTS_DIR / f"{name}.json"


def load_artifact(name: str) -> Artifact:
    """Load a contract's artefact by contract name (e.g. "Issuance")."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ArtifactError(f"invalid contract name {name!r}")
    path = artifact_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"no artefact for {name} at {path}") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read the artefact {path}: {exc}") from exc
    return _parse(name, path, data)


def _parse(name: str, path: Path, data: Any) -> Artifact:
    """Accept our format, Hardhat/Foundry-style objects or a bare ABI list."""
    if isinstance(data, list):
        abi, bytecode = data, ""
    elif isinstance(data, dict) and isinstance(data.get("abi"), list):
        abi, raw = data["abi"], data.get("bytecode", "")
        if isinstance(raw, dict):
            raw = raw.get("object", "")
        if not isinstance(raw, str):
            raise ArtifactError(f"{path}: bytecode must be a hex string")
        bytecode = raw if raw in ("", "0x") or raw.startswith("0x") else f"0x{raw}"
    else:
        raise ArtifactError(f"{path}: expected an ABI list or an object with an 'abi' list")
    if not all(isinstance(entry, dict) for entry in abi):
        raise ArtifactError(f"{path}: every ABI entry must be an object")
    return Artifact(name=name, abi=abi, bytecode="" if bytecode == "0x" else bytecode)

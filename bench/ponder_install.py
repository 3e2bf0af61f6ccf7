"""The Ponder app of bench/ponder.py, written and installed into a scratch folder at bench time.

Nothing of Ponder is committed: `install` runs `npm install ponder@<version>` (with its peers
viem, hono and typescript) into `.dpo/bench/ponder-<version>/` from the npm registry, once per
version (the folder is kept, so a second run does not download again). `write_app` copies our
own small app (bench/ponder_app/: the schema, the indexing functions, the API file) beside it
and writes what depends on the run: `ponder.config.ts` (the chain's URL, the contracts'
addresses and start block) and `abis.ts` (the ABIs of contracts/artifacts).

Ponder renamed `networks` (`chainId`, `transport`; contracts name a `network`) to `chains`
(`id`, `rpc`; contracts name a `chain`) in 0.11; the npm package `ponder@1.0.0` is the 0.10
line (its changelog: "Released 0.10"), so the config's shape follows the version number of
that line, not the semver order.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).resolve().parent / "ponder_app"
CHAIN_NAME = "anvil"
# Versions published as 1.0.0 that are the 0.10 line (networks, not chains).
NETWORKS_LINE = {"1.0.0"}
PEERS = {"viem": "^2.21.0", "hono": "^4.5.0", "typescript": "^5.0.4"}


def version_tuple(version: str) -> tuple[int, ...]:
    """`0.16.10` -> (0, 16, 10); a bad version string raises ValueError."""
    parts = version.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"not a version number: {version!r}")
    return tuple(int(part) for part in parts)


def uses_chains(version: str) -> bool:
    """Whether this Ponder's config has `chains` (0.11 and later) rather than `networks`."""
    return version not in NETWORKS_LINE and version_tuple(version) >= (0, 11, 0)


def config_source(
    version: str,
    rpc_url: str,
    addresses: Mapping[str, str],
    start_block: int,
    chain_id: int,
    ws_url: str | None = None,
) -> str:
    """ponder.config.ts for this chain: the contracts by name, their addresses, a start block.

    `ws_url` makes Ponder follow the chain by newHeads pushed over WebSocket instead of
    polling (0.11 and later; the 0.10 line polls whatever its transport).
    """
    if start_block < 0:
        raise ValueError("start block must be >= 0")
    version_tuple(version)
    if ws_url is not None and not uses_chains(version):
        raise ValueError(f"ponder {version} has no new-block push (0.11 and later do)")
    key = "chain" if uses_chains(version) else "network"
    if uses_chains(version):
        ws = f", ws: {json.dumps(ws_url)}" if ws_url is not None else ""
        chain = f"{{ id: {chain_id}, rpc: {json.dumps(rpc_url)}{ws} }}"
        chains = f"chains: {{ {CHAIN_NAME}: {chain} }},"
    else:
        # The default, 50 requests a second, would throttle a local node; ours has no cap.
        network = (
            f"{{ chainId: {chain_id}, transport: http({json.dumps(rpc_url)}), "
            "maxRequestsPerSecond: 10000 }"
        )
        chains = f"networks: {{ {CHAIN_NAME}: {network} }},"
    contracts = "\n".join(
        f"    {name}: {{ {key}: {json.dumps(CHAIN_NAME)}, abi: ABIS.{name}, "
        f"address: {json.dumps(address.lower())}, startBlock: {start_block} }},"
        for name, address in sorted(addresses.items())
    )
    return (
        "// Written by bench/ponder.py for one run's chain.\n"
        'import { createConfig } from "ponder";\n'
        + ('import { http } from "viem";\n' if not uses_chains(version) else "")
        + 'import { ABIS } from "./abis";\n\n'
        "export default createConfig({\n"
        '  database: { kind: "postgres", connectionString: process.env.DATABASE_URL },\n'
        f"  {chains}\n"
        "  contracts: {\n"
        f"{contracts}\n"
        "  },\n"
        "});\n"
    )


def abis_source(abis: Mapping[str, list[dict[str, Any]]]) -> str:
    """abis.ts: each contract's ABI `as const`, so Ponder types the events' arguments."""
    body = "\n".join(f"  {name}: {json.dumps(abi)} as const," for name, abi in sorted(abis.items()))
    header = "// Written by bench/ponder.py from contracts/artifacts.\n"
    return f"{header}export const ABIS = {{\n{body}\n}};\n"


def package_source(version: str) -> str:
    """package.json of the scratch folder: ponder at exactly `version` and its peers."""
    version_tuple(version)
    return json.dumps(
        {
            "name": "dpo-bench-ponder",
            "private": True,
            "type": "module",
            "dependencies": {"ponder": version, **PEERS},
        },
        indent=2,
    )


def folder_of(version: str) -> Path:
    return ROOT / ".dpo" / "bench" / f"ponder-{version}"


def installed_version(folder: Path) -> str | None:
    manifest = folder / "node_modules" / "ponder" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def install(version: str) -> Path:
    """npm install ponder@version into its scratch folder unless it is there already."""
    folder = folder_of(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(package_source(version))
    if installed_version(folder) != version:
        print(f"installing ponder@{version} into {folder} (npm registry)", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
        )
    found = installed_version(folder)
    if found != version:
        raise RuntimeError(f"npm installed ponder {found}, not {version}")
    return folder


def write_app(
    folder: Path,
    version: str,
    rpc_url: str,
    addresses: Mapping[str, str],
    abis: Mapping[str, list[dict[str, Any]]],
    start_block: int,
    chain_id: int,
    ws_url: str | None = None,
) -> None:
    """Our app's sources into the installed folder, config and ABIs for this run."""
    for source in APP.rglob("*"):
        if source.is_file():
            target = folder / source.relative_to(APP)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    (folder / "abis.ts").write_text(abis_source(abis))
    (folder / "ponder.config.ts").write_text(
        config_source(version, rpc_url, addresses, start_block, chain_id, ws_url)
    )
    shutil.rmtree(folder / ".ponder", ignore_errors=True)  # a previous run's build cache

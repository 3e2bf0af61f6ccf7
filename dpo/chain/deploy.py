"""Deployment of the four reference contracts and recording of their addresses."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, cast

from aiohttp import ClientTimeout
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import Nonce, TxParams, TxReceipt

from dpo.chain.artifacts import load_artifact

DEFAULT_SECURITY_NAME = "DPO Security Token"
DEFAULT_SECURITY_SYMBOL = "DPOST"
# Headroom over eth_estimateGas: on Arbitrum the L1 data fee in the estimate moves with the
# L1 gas price between the estimate and inclusion.
GAS_HEADROOM_PERCENT = 20

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)\s*=")
_NEEDS_QUOTES = re.compile(r"[\s#\"'$\\`]")


class DeployError(Exception):
    """A deployment transaction was refused or reverted."""


class _Sender:
    """Signs locally and sends one transaction at a time, tracking the nonce itself."""

    def __init__(
        self, w3: AsyncWeb3[AsyncHTTPProvider], account: LocalAccount, wait_seconds: float
    ) -> None:
        self.w3 = w3
        self.account = account
        self.wait_seconds = wait_seconds
        self.chain_id = 0
        self.nonce = 0

    async def start(self) -> None:
        """Read the chain id and the account's next nonce (pending transactions included)."""
        self.chain_id = await self.w3.eth.chain_id
        self.nonce = await self.w3.eth.get_transaction_count(self.account.address, "pending")

    def params(self) -> TxParams:
        """Return the fields every transaction starts from."""
        return {"from": self.account.address, "nonce": Nonce(self.nonce), "chainId": self.chain_id}

    async def send(self, tx: TxParams, what: str) -> TxReceipt:
        """Sign, send and wait for a transaction; raise DeployError unless it succeeded."""
        tx["gas"] = tx["gas"] * (100 + GAS_HEADROOM_PERCENT) // 100
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        tx_hash = await self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.nonce += 1
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.wait_seconds)
        if receipt["status"] != 1:
            raise DeployError(f"{what} reverted in transaction {tx_hash.to_0x_hex()}")
        return receipt


async def deploy_all(
    rpc_url: str,
    private_key: str,
    *,
    token_name: str = DEFAULT_SECURITY_NAME,
    token_symbol: str = DEFAULT_SECURITY_SYMBOL,
    wait_seconds: float = 120.0,
) -> dict[str, str]:
    """Deploy Issuance, STO, DerivativesReporter and EuroclearBridge; return their addresses.

    The key's account becomes owner and agent of all four. The bridge is verified as an
    investor on the Issuance token so that it can hold tokens in custody. `wait_seconds`
    bounds each RPC call and each wait for a receipt. The result maps the runbook's
    variable names to checksummed addresses.
    """
    provider = AsyncHTTPProvider(
        rpc_url, request_kwargs={"timeout": ClientTimeout(total=wait_seconds)}
    )
    w3 = AsyncWeb3(provider)
    try:
        sender = _Sender(w3, Account.from_key(private_key), wait_seconds)
        await sender.start()
        issuance = await _deploy(sender, "Issuance", [token_name, token_symbol])
        sto = await _deploy(sender, "STO", [])
        reporter = await _deploy(sender, "DerivativesReporter", [])
        bridge = await _deploy(sender, "EuroclearBridge", [])
        token = w3.eth.contract(address=issuance, abi=load_artifact("Issuance").abi)
        tx = await token.functions.verifyInvestor(bridge).build_transaction(sender.params())
        await sender.send(tx, "verifying the bridge on Issuance")
    finally:
        await provider.disconnect()
    return {
        "ISSUANCE_CONTRACT_ADDRESS": issuance,
        "STO_CONTRACT_ADDRESS": sto,
        "DERIVATIVES_REPORTER_CONTRACT_ADDRESS": reporter,
        "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": bridge,
    }


async def _deploy(sender: _Sender, name: str, args: list[Any]) -> ChecksumAddress:
    """Deploy one contract from its artefact and return its checksummed address."""
    artifact = load_artifact(name)
    if not artifact.bytecode:
        raise DeployError(f"the {name} artefact has no bytecode (an ABI-only drop-in?)")
    factory = sender.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = await factory.constructor(*args).build_transaction(sender.params())
    receipt = await sender.send(tx, f"deploying {name}")
    address = receipt["contractAddress"]
    if address is None:
        raise DeployError(f"deploying {name} created no contract")
    return AsyncWeb3.to_checksum_address(address)


def write_env(path: Path, values: dict[str, str]) -> None:
    """Set KEY=VALUE lines in a dotenv file, keeping every other line; create it if needed."""
    for key, value in values.items():
        if not _ENV_KEY.match(key):
            raise ValueError(f"invalid variable name {key!r}")
        if "\n" in value or "\r" in value:
            raise ValueError(f"the value of {key} spans lines")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    pending = dict(values)
    out: list[str] = []
    for line in lines:
        match = _ENV_LINE.match(line)
        if match and match.group(2) in values:
            # Every occurrence is rewritten, so whichever one a loader honours is right.
            key = match.group(2)
            out.append(f"{match.group(1)}{key}={_quote(values[key])}")
            pending.pop(key, None)
        else:
            out.append(line)
    out.extend(f"{key}={_quote(value)}" for key, value in pending.items())
    # Written beside the target and renamed, so a crash never leaves half a file; a new file
    # is private because dotenv files hold keys.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    tmp.replace(path)


def _quote(value: str) -> str:
    """Quote a value only when a dotenv parser would otherwise change it."""
    if not _NEEDS_QUOTES.search(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'

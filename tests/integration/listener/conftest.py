"""Listener tests reuse the chain suite's fixtures: a web3 client and the deployed contracts."""

from __future__ import annotations

from tests.integration.chain.conftest import ANVIL_ADDRESS, ANVIL_KEY, deployed, w3

__all__ = ["ANVIL_ADDRESS", "ANVIL_KEY", "deployed", "w3"]

"""The contracts on a local development chain: deployed once, reused while the chain lives."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from dotenv import dotenv_values
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.chain.deploy import deploy_all, write_env
from dpo.embedded.anvil import DEV_PRIVATE_KEY

logger = logging.getLogger(__name__)


async def _all_have_code(rpc_url: str, addresses: dict[str, str]) -> bool:
    provider = AsyncHTTPProvider(rpc_url)
    w3 = AsyncWeb3(provider)
    try:
        for address in addresses.values():
            if len(await w3.eth.get_code(w3.to_checksum_address(address))) == 0:
                return False
        return True
    finally:
        await provider.disconnect()


def recorded_contracts(env_file: Path) -> dict[str, str]:
    """The contract addresses a dotenv file records, if any."""
    if not env_file.exists():
        return {}
    return {k: v for k, v in dotenv_values(env_file).items() if k in CONTRACT_ARTIFACTS and v}


async def ensure_local_contracts(rpc_url: str, env_file: Path) -> dict[str, str]:
    """Addresses of the four contracts on the local chain, deploying them if needed."""
    recorded = await asyncio.to_thread(recorded_contracts, env_file)
    if len(recorded) == len(CONTRACT_ARTIFACTS) and await _all_have_code(rpc_url, recorded):
        logger.info("reusing the contracts recorded in %s", env_file)
        return recorded
    addresses = await deploy_all(rpc_url, DEV_PRIVATE_KEY)
    env_file.parent.mkdir(parents=True, exist_ok=True)
    write_env(env_file, addresses)
    logger.info("deployed the four contracts to %s; addresses in %s", rpc_url, env_file)
    return addresses

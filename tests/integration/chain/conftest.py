"""A real anvil chain per test module, with the four contracts deployed by deploy_all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.deploy import deploy_all
from dpo.embedded.anvil import DEV_PRIVATE_KEY

ANVIL_KEY = DEV_PRIVATE_KEY
# The address of anvil's first default account (mnemonic "test test ... junk").
ANVIL_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.fixture(scope="module")
async def w3(anvil_url: str) -> AsyncIterator[AsyncWeb3[AsyncHTTPProvider]]:
    """An AsyncWeb3 client of the module's anvil."""
    provider = AsyncHTTPProvider(anvil_url)
    client = AsyncWeb3(provider)
    yield client
    await provider.disconnect()


@pytest.fixture(scope="module")
async def deployed(anvil_url: str) -> dict[str, str]:
    """The four contracts, deployed with anvil's first key through deploy_all."""
    return await deploy_all(anvil_url, ANVIL_KEY)

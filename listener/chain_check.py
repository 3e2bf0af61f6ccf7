"""The check that the RPC endpoint serves the chain BLOCKCHAIN_NETWORK names."""

from __future__ import annotations

from dpo.chain_ids import NETWORKS
from listener.ports import Rpc, RpcError


class ChainMismatchError(RpcError):
    """The RPC endpoint serves another chain than BLOCKCHAIN_NETWORK names."""


def network_name(chain_id: int) -> str:
    """A known network's name for a chain id, else 'chain <id>'."""
    for name, number in NETWORKS.items():
        if number == chain_id:
            return name
    return f"chain {chain_id}"


async def verify_chain(rpc: Rpc, expected_chain_id: int) -> None:
    """Refuse an endpoint whose eth_chainId differs from what BLOCKCHAIN_NETWORK names."""
    actual = await rpc.chain_id()
    if actual != expected_chain_id:
        raise ChainMismatchError(
            f"BLOCKCHAIN_NETWORK is {network_name(expected_chain_id)} (chain id "
            f"{expected_chain_id}) but the RPC endpoint reports chain id {actual} "
            f"({network_name(actual)}). The listener refuses to run so that another chain's "
            "events never reach our tables: point QUICKNODE_URL / BLOCKCHAIN_RPC_URL at a "
            f"{network_name(expected_chain_id)} node, or correct BLOCKCHAIN_NETWORK.",
            retryable=False,
        )

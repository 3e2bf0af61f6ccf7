"""Network names BLOCKCHAIN_NETWORK accepts and the chain ids they stand for."""

NETWORKS: dict[str, int] = {
    "arbitrum-nova": 42170,
    "arbitrum-one": 42161,
    "arbitrum-sepolia": 421614,
    "ethereum": 1,
    "mainnet": 1,
    "sepolia": 11155111,
    "anvil": 31337,
    "localhost": 31337,
}

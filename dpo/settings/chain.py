"""The chain: RPC endpoints, contracts, the listener's and the sender's knobs."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

from dpo.chain_ids import NETWORKS
from dpo.inputs import is_ascii_digits
from dpo.settings.values import ADDRESS, CONTRACT_VARS, PRIVATE_KEY


class ChainSettings(BaseModel):
    """The blockchain, the listener that follows it and the sender that writes to it."""

    # Blockchain.
    quicknode_url: SecretStr | None = Field(default=None, alias="QUICKNODE_URL")
    blockchain_rpc_url: SecretStr | None = Field(default=None, alias="BLOCKCHAIN_RPC_URL")
    blockchain_network: str = Field(default="anvil", alias="BLOCKCHAIN_NETWORK")
    start_block_number: int = Field(default=0, ge=0, alias="START_BLOCK_NUMBER")
    issuance_contract_address: str | None = Field(default=None, alias="ISSUANCE_CONTRACT_ADDRESS")
    sto_contract_address: str | None = Field(default=None, alias="STO_CONTRACT_ADDRESS")
    derivatives_reporter_contract_address: str | None = Field(
        default=None, alias="DERIVATIVES_REPORTER_CONTRACT_ADDRESS"
    )
    euroclear_bridge_contract_address: str | None = Field(
        default=None, alias="EUROCLEAR_BRIDGE_CONTRACT_ADDRESS"
    )
    wallet_private_key: SecretStr | None = Field(default=None, alias="WALLET_PRIVATE_KEY")

    # Listener knobs.
    listener_confirmations: int = Field(default=0, ge=0, le=10_000, alias="LISTENER_CONFIRMATIONS")
    listener_use_finalized: bool = Field(default=False, alias="LISTENER_USE_FINALIZED")
    listener_poll_interval: float = Field(default=1.0, gt=0, le=300, alias="LISTENER_POLL_INTERVAL")
    listener_batch_blocks: int = Field(default=2_000, ge=1, alias="LISTENER_BATCH_BLOCKS")
    listener_max_batch_blocks: int = Field(default=50_000, ge=1, alias="LISTENER_MAX_BATCH_BLOCKS")
    listener_reorg_window: int = Field(default=128, ge=1, le=10_000, alias="LISTENER_REORG_WINDOW")
    listener_concurrency: int = Field(default=4, ge=1, le=64, alias="LISTENER_CONCURRENCY")
    # What bounds the backfill's memory: logs held at once by the ranges in flight.
    listener_max_logs_in_flight: int = Field(
        default=20_000, ge=100, le=10_000_000, alias="LISTENER_MAX_LOGS_IN_FLIGHT"
    )
    listener_header_batch: int = Field(default=100, ge=1, le=1_000, alias="LISTENER_HEADER_BATCH")
    listener_metrics_port: int = Field(default=0, ge=0, le=65_535, alias="LISTENER_METRICS_PORT")
    rpc_timeout: float = Field(default=15.0, gt=0, le=300, alias="RPC_TIMEOUT")

    # The platform wallet's transaction sender (docs/SENDER.md).
    sender_poll_interval: float = Field(default=1.0, gt=0, le=300, alias="SENDER_POLL_INTERVAL")
    sender_max_in_flight: int = Field(default=64, ge=1, le=10_000, alias="SENDER_MAX_IN_FLIGHT")
    sender_replace_after: float = Field(default=60.0, gt=0, le=86_400, alias="SENDER_REPLACE_AFTER")
    sender_resend_after: float = Field(default=15.0, gt=0, le=86_400, alias="SENDER_RESEND_AFTER")
    sender_nonce_taken_after: float = Field(
        default=30.0, ge=0, le=86_400, alias="SENDER_NONCE_TAKEN_AFTER"
    )
    sender_max_fee_gwei: Decimal = Field(
        default=Decimal(100), gt=0, le=1_000_000, alias="SENDER_MAX_FEE_GWEI"
    )
    sender_max_priority_fee_gwei: Decimal = Field(
        default=Decimal(5), ge=0, le=1_000_000, alias="SENDER_MAX_PRIORITY_FEE_GWEI"
    )
    sender_fee_bump_percent: int = Field(
        default=12, ge=10, le=1_000, alias="SENDER_FEE_BUMP_PERCENT"
    )
    sender_gas_headroom_percent: int = Field(
        default=20, ge=0, le=1_000, alias="SENDER_GAS_HEADROOM_PERCENT"
    )
    sender_metrics_port: int = Field(default=0, ge=0, le=65_535, alias="SENDER_METRICS_PORT")
    # Blocks on top of a receipt's block before its intent is final (12: ~3 s on Arbitrum Nova).
    sender_confirmations: int = Field(default=12, ge=0, le=10_000, alias="SENDER_CONFIRMATIONS")

    @field_validator("quicknode_url", "blockchain_rpc_url", mode="after")
    @classmethod
    def _check_rpc_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value

    @field_validator(
        "issuance_contract_address",
        "sto_contract_address",
        "derivatives_reporter_contract_address",
        "euroclear_bridge_contract_address",
        mode="after",
    )
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not ADDRESS.match(value.strip()):
            raise ValueError(f"must be a 0x-prefixed 20-byte hex address, got {value!r}")
        return value.strip()

    @field_validator("wallet_private_key", mode="after")
    @classmethod
    def _check_private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not PRIVATE_KEY.match(value.get_secret_value().strip()):
            raise ValueError("must be a 32-byte hex private key")
        return value

    @field_validator("blockchain_network", mode="after")
    @classmethod
    def _check_network(cls, value: str) -> str:
        if value not in NETWORKS and not is_ascii_digits(value):
            known = ", ".join(sorted(NETWORKS))
            raise ValueError(f"unknown network {value!r}; use one of {known} or a chain id")
        return value

    @property
    def chain_id(self) -> int:
        """The chain id BLOCKCHAIN_NETWORK stands for."""
        return NETWORKS.get(self.blockchain_network) or int(self.blockchain_network)

    def contract_addresses(self) -> dict[str, str | None]:
        """The four contract addresses by their variable name."""
        return {name: getattr(self, name.lower()) for name in CONTRACT_VARS}

    def rpc_urls(self) -> list[str]:
        """The RPC endpoints in failover order, without duplicates."""
        urls: list[str] = []
        for secret in (self.quicknode_url, self.blockchain_rpc_url):
            if secret is not None and secret.get_secret_value() not in urls:
                urls.append(secret.get_secret_value())
        return urls

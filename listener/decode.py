"""Raw eth_getLogs entries to decoded, JSON-safe events of our four contracts.

Argument values are made safe for JSONB without loss: integers become decimal strings
(uint256 exceeds every JSON number type), addresses are checksummed, bytes become 0x-hex and
fixed-size bytes that hold left-aligned printable ASCII (currency, ISIN, LEI, accounts) are
also given as text under `<name>_text`. Strings lose NUL characters, which JSONB refuses.
Logs of other topics (or that do not decode under the configured ABI) are skipped and counted,
never an error: a production contract may emit events our ABIs do not know.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from dpo.chain.artifacts import CONTRACT_ARTIFACTS, load_artifact
from dpo.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DecodedLog:
    """One decoded contract log; hashes are lowercase 0x-hex, addresses checksummed."""

    chain_id: int
    contract_address: str
    contract_name: str
    event_name: str
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int
    args: dict[str, Any]
    removed: bool = False
    # Unix seconds when the provider includes `blockTimestamp` in the log, else None.
    block_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class _Input:
    name: str
    abi_type: str
    indexed: bool


@dataclass(frozen=True, slots=True)
class _EventSpec:
    contract_address: str
    contract_name: str
    event_name: str
    inputs: tuple[_Input, ...]
    data_types: tuple[str, ...]


def canonical_type(item: Mapping[str, Any]) -> str:
    """The canonical ABI type of an input, tuples spelled out as (t1,t2,...)."""
    abi_type = str(item["type"])
    if abi_type.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item.get("components", []))
        return f"({inner}){abi_type[len('tuple'):]}"
    return abi_type


def event_topic(event: Mapping[str, Any]) -> str:
    """topic0 of an event ABI entry, as lowercase 0x-hex."""
    signature = f"{event['name']}({','.join(canonical_type(i) for i in event['inputs'])})"
    return "0x" + keccak(text=signature).hex()


@lru_cache(maxsize=65536)
def _checksum(address: str) -> str:
    return str(to_checksum_address(address))


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith(("0x", "0X")) else int(value)
    raise TypeError(f"expected an int or hex string, got {type(value).__name__}")


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x").removeprefix("0X"))


def ascii_text(raw: bytes) -> str | None:
    """Left-aligned printable ASCII padded with NULs, as text; None otherwise."""
    stripped = raw.rstrip(b"\0")
    if not stripped or any(b < 0x20 or b > 0x7E for b in stripped):
        return None
    return stripped.decode("ascii")


def json_value(abi_type: str, value: Any) -> Any:
    """A decoded ABI value as JSON without precision loss."""
    if abi_type.endswith("]"):
        element = abi_type[: abi_type.rindex("[")]
        return [json_value(element, v) for v in value]
    if abi_type.startswith("("):
        parts = _split_tuple(abi_type)
        return [json_value(t, v) for t, v in zip(parts, value, strict=True)]
    if abi_type.startswith(("uint", "int")):
        return str(int(value))
    if abi_type == "address":
        return _checksum(str(value))
    if abi_type == "bool":
        return bool(value)
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    if abi_type == "string":
        return str(value).replace("\0", "")
    return str(value)


def _split_tuple(abi_type: str) -> list[str]:
    inner, depth, parts, start = abi_type[1:-1], 0, [], 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return parts


def _is_dynamic(abi_type: str) -> bool:
    return abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")


class Decoder:
    """Decodes the logs of known contracts; `skipped` counts the logs it could not decode."""

    def __init__(self, chain_id: int, contracts: Mapping[str, str]) -> None:
        """`contracts` maps each contract address to its contract (artefact) name."""
        self.chain_id = chain_id
        self.skipped = 0
        self._specs: dict[tuple[str, str], _EventSpec] = {}
        for address, name in contracts.items():
            checksummed = _checksum(address)
            for item in load_artifact(name).abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                inputs = tuple(
                    _Input(str(i.get("name") or f"arg{n}"), canonical_type(i),
                           bool(i.get("indexed")))
                    for n, i in enumerate(item["inputs"])
                )
                spec = _EventSpec(
                    contract_address=checksummed,
                    contract_name=name,
                    event_name=str(item["name"]),
                    inputs=inputs,
                    data_types=tuple(i.abi_type for i in inputs if not i.indexed),
                )
                self._specs[(address.lower(), event_topic(item))] = spec

    @classmethod
    def from_settings(cls, settings: Settings) -> Decoder:
        """A decoder of the configured contracts (unset addresses are left out)."""
        contracts = {
            address: CONTRACT_ARTIFACTS[var]
            for var, address in settings.contract_addresses().items()
            if address
        }
        return cls(settings.chain_id, contracts)

    @property
    def addresses(self) -> list[str]:
        """The checksummed addresses this decoder knows, for eth_getLogs."""
        return sorted({spec.contract_address for spec in self._specs.values()})

    def decode(self, log: Mapping[str, Any]) -> DecodedLog | None:
        """Decode one log; None (and counted in `skipped`) if it is not one of ours."""
        topics = log.get("topics") or []
        if not topics:
            self.skipped += 1
            return None
        key = (str(log["address"]).lower(), _hex(topics[0]))
        spec = self._specs.get(key)
        if spec is None:
            self.skipped += 1
            return None
        try:
            args = self._args(spec, topics[1:], _bytes(log.get("data") or b""))
        except (DecodingError, ValueError, TypeError, OverflowError) as error:
            self.skipped += 1
            logger.warning(
                "cannot decode %s.%s in tx %s log %s: %s", spec.contract_name,
                spec.event_name, _hex(log["transactionHash"]), _int(log["logIndex"]), error,
            )
            return None
        timestamp = log.get("blockTimestamp")
        return DecodedLog(
            chain_id=self.chain_id,
            contract_address=spec.contract_address,
            contract_name=spec.contract_name,
            event_name=spec.event_name,
            block_number=_int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            tx_hash=_hex(log["transactionHash"]),
            tx_index=_int(log["transactionIndex"]),
            log_index=_int(log["logIndex"]),
            args=args,
            removed=bool(log.get("removed", False)),
            block_timestamp=None if timestamp is None else _int(timestamp),
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedLog]:
        """Decode many logs, dropping (and counting) the ones that are not ours."""
        decoded = (self.decode(log) for log in logs)
        return [d for d in decoded if d is not None]

    def _args(self, spec: _EventSpec, topics: list[Any], data: bytes) -> dict[str, Any]:
        indexed = [i for i in spec.inputs if i.indexed]
        if len(topics) != len(indexed):
            raise ValueError(f"expected {len(indexed)} indexed topics, got {len(topics)}")
        values = iter(abi_decode(list(spec.data_types), data))
        by_topic = iter(topics)
        args: dict[str, Any] = {}
        for item in spec.inputs:
            if item.indexed:
                raw = _bytes(next(by_topic))
                if _is_dynamic(item.abi_type):
                    # Indexed dynamic values are only their keccak hash.
                    args[item.name] = "0x" + raw.hex()
                    continue
                value = abi_decode([item.abi_type], raw)[0]
            else:
                value = next(values)
            args[item.name] = json_value(item.abi_type, value)
            if item.abi_type.startswith("bytes") and item.abi_type != "bytes":
                text = ascii_text(bytes(value))
                if text is not None:
                    args[f"{item.name}_text"] = text
        return args

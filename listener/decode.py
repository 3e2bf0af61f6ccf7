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
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from dpo.chain.artifacts import CONTRACT_ARTIFACTS, load_artifact
from dpo.settings import Settings
from listener.abi_fast import ArgsPlan
from listener.abi_values import (
    WordDecoder,
    canonical_type,
    checksum,
    event_topic,
    fixed_text,
    is_dynamic,
    json_value,
    word_decoder,
)

logger = logging.getLogger(__name__)


@dataclass(slots=True)
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
    # Word decoders of the data when every data type is static (the common case), else None.
    data_words: tuple[WordDecoder, ...] | None
    topic_words: tuple[WordDecoder | None, ...]
    # The fast path of the common shapes; None when every log takes the general path.
    plan: ArgsPlan | None


def _int(value: Any) -> int:
    if type(value) is str and value[:2] == "0x":
        return int(value, 16)
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
    if type(value) is str and value[:2] == "0x":
        return bytes.fromhex(value[2:])
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x").removeprefix("0X"))


class Decoder:
    """Decodes the logs of known contracts; `skipped` counts the logs it could not decode."""

    def __init__(self, chain_id: int, contracts: Mapping[str, str]) -> None:
        """`contracts` maps each contract address to its contract (artefact) name."""
        self.chain_id = chain_id
        self.skipped = 0
        self._specs: dict[tuple[str, str], _EventSpec] = {}
        self._seen: dict[tuple[str, str], _EventSpec] = {}
        # The last block's raw hash, number and timestamp, and the three converted.
        self._block: tuple[Any, Any, Any, int, str, int | None] = (None, None, None, 0, "", None)
        for address, name in contracts.items():
            checksummed = checksum(address)
            for item in load_artifact(name).abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                inputs = tuple(
                    _Input(
                        str(i.get("name") or f"arg{n}"), canonical_type(i), bool(i.get("indexed"))
                    )
                    for n, i in enumerate(item["inputs"])
                )
                data_types = tuple(i.abi_type for i in inputs if not i.indexed)
                words = tuple(word_decoder(t) for t in data_types)
                spec = _EventSpec(
                    contract_address=checksummed,
                    contract_name=name,
                    event_name=str(item["name"]),
                    inputs=inputs,
                    data_types=data_types,
                    data_words=None if None in words else words,  # type: ignore[arg-type]
                    topic_words=tuple(
                        None if is_dynamic(i.abi_type) else word_decoder(i.abi_type)
                        for i in inputs
                        if i.indexed
                    ),
                    plan=ArgsPlan.of([(i.name, i.abi_type, i.indexed) for i in inputs]),
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
        address, topic0 = log["address"], topics[0]
        # Providers spell address and topic the same way every time: skip normalising them.
        spec = (
            self._seen.get((address, topic0))
            if isinstance(address, str) and isinstance(topic0, str)
            else None
        )
        if spec is None:
            spec = self._specs.get((str(address).lower(), _hex(topic0)))
            if spec is None:
                self.skipped += 1
                return None
            if isinstance(address, str) and isinstance(topic0, str) and len(self._seen) < 4096:
                self._seen[(address, topic0)] = spec
        plan = spec.plan
        args = None if plan is None else plan.decode(topics, log.get("data"))
        try:
            if args is None:
                args = self._args(spec, topics, _bytes(log.get("data") or b""))
        except (DecodingError, ValueError, TypeError, OverflowError) as error:
            self.skipped += 1
            logger.warning(
                "cannot decode %s.%s in tx %s log %s: %s",
                spec.contract_name,
                spec.event_name,
                _hex(log["transactionHash"]),
                _int(log["logIndex"]),
                error,
            )
            return None
        # Logs come grouped by block: convert a block's fields once.
        raw_hash, raw_number = log["blockHash"], log["blockNumber"]
        raw_time = log.get("blockTimestamp")
        block = self._block
        if block[0] != raw_hash or block[1] != raw_number or block[2] != raw_time:
            block = (
                raw_hash,
                raw_number,
                raw_time,
                _int(raw_number),
                _hex(raw_hash),
                None if raw_time is None else _int(raw_time),
            )
            self._block = block
        tx_hash = log["transactionHash"]
        return DecodedLog(
            self.chain_id,
            spec.contract_address,
            spec.contract_name,
            spec.event_name,
            block[3],
            block[4],
            tx_hash.lower() if type(tx_hash) is str and tx_hash[:2] == "0x" else _hex(tx_hash),
            _int(log["transactionIndex"]),
            _int(log["logIndex"]),
            args,
            bool(log.get("removed", False)),
            block[5],
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedLog]:
        """Decode many logs, dropping (and counting) the ones that are not ours."""
        decode = self.decode
        return [d for d in map(decode, logs) if d is not None]

    def _args(self, spec: _EventSpec, topics: list[Any], data: bytes) -> dict[str, Any]:
        """The arguments by name; `topics` includes topic0."""
        if len(topics) != len(spec.topic_words) + 1:
            raise ValueError(
                f"expected {len(spec.topic_words)} indexed topics, got {len(topics) - 1}"
            )
        if spec.data_words is not None:
            if len(data) < 32 * len(spec.data_words):
                raise DecodingError("data is shorter than the event's arguments")
            values = [fn(data[32 * n : 32 * n + 32]) for n, fn in enumerate(spec.data_words)]
        else:
            values = [
                (json_value(t, v), fixed_text(t, v))
                for t, v in zip(
                    spec.data_types, abi_decode(list(spec.data_types), data), strict=True
                )
            ]
        args: dict[str, Any] = {}
        topic_at = value_at = 0
        for item in spec.inputs:
            if item.indexed:
                topic_word = spec.topic_words[topic_at]
                topic_at += 1
                word = _bytes(topics[topic_at])
                if len(word) != 32:
                    raise DecodingError("a topic is not 32 bytes")
                if topic_word is None:
                    # Indexed dynamic values are only their keccak hash.
                    args[item.name] = "0x" + word.hex()
                    continue
                value, text = topic_word(word)
            else:
                value, text = values[value_at]
                value_at += 1
            args[item.name] = value
            if text is not None:
                args[f"{item.name}_text"] = text
        return args

"""ABI values to JSON: types, topics, checksums and fast decoders of static words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from dpo.inputs import is_ascii_digits

# A static ABI type's decoder: one 32-byte word to its JSON value (and text, for bytesN).
WordDecoder = Callable[[bytes], tuple[Any, str | None]]


def canonical_type(item: Mapping[str, Any]) -> str:
    """The canonical ABI type of an input, tuples spelled out as (t1,t2,...)."""
    abi_type = str(item["type"])
    if abi_type.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item.get("components", []))
        return f"({inner}){abi_type[len('tuple') :]}"
    return abi_type


def event_topic(event: Mapping[str, Any]) -> str:
    """topic0 of an event ABI entry, as lowercase 0x-hex."""
    signature = f"{event['name']}({','.join(canonical_type(i) for i in event['inputs'])})"
    return "0x" + keccak(text=signature).hex()


@lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    """EIP-55 checksum of a 0x-prefixed address (eth_utils' version validates at length)."""
    lower = address.lower()[2:]
    if len(lower) != 40:
        return str(to_checksum_address(address))
    digest = keccak(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c > "9" and digest[i] > "7" else c for i, c in enumerate(lower)
    )


def _padding_error(abi_type: str) -> DecodingError:
    return DecodingError(f"{abi_type} value is not correctly padded")


def word_decoder(abi_type: str) -> WordDecoder | None:
    """A fast decoder of one word for a static elementary type; None for the others.

    eth_abi's general decoder costs ~0.2 ms a log; backfills decode hundreds of thousands.
    Padding is checked as strictly as eth_abi does.
    """
    if abi_type == "address":

        def address(word: bytes) -> tuple[Any, str | None]:
            if any(word[:12]):
                raise _padding_error(abi_type)
            return checksum("0x" + word[12:].hex()), None

        return address
    if abi_type == "bool":

        def boolean(word: bytes) -> tuple[Any, str | None]:
            if any(word[:31]) or word[31] > 1:
                raise _padding_error(abi_type)
            return word[31] == 1, None

        return boolean
    for prefix, signed in (("uint", False), ("int", True)):
        bits_text = abi_type[len(prefix) :]
        if abi_type.startswith(prefix) and is_ascii_digits(bits_text):
            bits = int(bits_text)

            def integer(
                word: bytes, bits: int = bits, signed: bool = signed
            ) -> tuple[Any, str | None]:
                value = int.from_bytes(word, "big", signed=signed)
                limit = 1 << (bits - 1 if signed else bits)
                if not (-limit if signed else 0) <= value < limit:
                    raise _padding_error(abi_type)
                return str(value), None

            return integer
    size_text = abi_type[len("bytes") :]
    if abi_type.startswith("bytes") and is_ascii_digits(size_text):
        size = int(size_text)

        def fixed(word: bytes, size: int = size) -> tuple[Any, str | None]:
            if any(word[size:]):
                raise _padding_error(abi_type)
            return "0x" + word[:size].hex(), ascii_text(word[:size])

        return fixed
    return None


def ascii_text(raw: bytes) -> str | None:
    """Left-aligned printable ASCII padded with NULs, as text; None otherwise."""
    stripped = raw.rstrip(b"\0")
    if not stripped or not stripped.isascii():
        return None
    text = stripped.decode("ascii")
    # Within ASCII, printable is exactly 0x20..0x7E (no controls, no DEL).
    return text if text.isprintable() else None


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
        return checksum(str(value))
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


def fixed_text(abi_type: str, value: Any) -> str | None:
    """The ASCII text of a bytesN value, if it is text."""
    if abi_type.startswith("bytes") and is_ascii_digits(abi_type[len("bytes") :]):
        return ascii_text(bytes(value))
    return None


def is_dynamic(abi_type: str) -> bool:
    """Tell whether a type is encoded out of line (its indexed topic is a hash)."""
    return abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")

"""A fast decoder of event arguments for the common ABI shapes, straight from the hex text.

An `ArgsPlan` covers events whose indexed arguments are elementary and whose data holds
elementary static values and top-level `string` / `bytes`; it reads each value out of one
`bytes.fromhex` of the data, without eth_abi's stream objects (eth_abi costs ~20 µs a log
with a string). It never guesses: any shape it does not cover, and any log that is not a
well-formed encoding (bad hex, wrong padding, a pointer or length out of bounds, invalid
UTF-8), makes `decode` return None, and the caller decodes with the general path, which
gives eth_abi's result or its error. When `decode` returns arguments they equal the general
path's (tests/unit/listener/test_abi_fast.py compares both on fuzzed encodings).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from dpo.inputs import is_ascii_digits
from listener.abi_values import ascii_text, checksum

# How a value is read: from a topic, a data head word, or the data tail a head word points to.
ADDRESS, UINT, INT, BOOL, FIXED, STRING, BYTES, HASHED = range(8)
_ZERO12 = bytes(12)
_ZERO31 = bytes(31)
_HEX_ZERO24 = "0" * 24
# (name, name of its text, operation, topic index or -1, data head offset, bits or bytes)
_Step = tuple[str, str, int, int, int, int]


def _op(abi_type: str, indexed: bool) -> tuple[int, int] | None:
    """(operation, size) for a type: bits of an integer, length of a bytesN; None if unknown."""
    if abi_type == "address":
        return ADDRESS, 0
    if abi_type == "bool":
        return BOOL, 0
    if abi_type in ("string", "bytes"):
        if indexed:
            return HASHED, 0  # an indexed dynamic value is only its keccak hash
        return (STRING if abi_type == "string" else BYTES), 0
    for prefix, op in (("uint", UINT), ("int", INT)):
        bits = abi_type[len(prefix) :]
        if abi_type.startswith(prefix) and is_ascii_digits(bits):
            size = int(bits)
            return (op, size) if 8 <= size <= 256 and size % 8 == 0 else None
    size_text = abi_type[len("bytes") :]
    if abi_type.startswith("bytes") and is_ascii_digits(size_text):
        size = int(size_text)
        return (FIXED, size) if 1 <= size <= 32 else None
    return None


class ArgsPlan:
    """How to read one event's arguments; build with `ArgsPlan.of`, None if not covered."""

    __slots__ = ("data_words", "steps", "topics")

    def __init__(self, steps: tuple[_Step, ...], topics: int, data_words: int) -> None:
        self.steps = steps
        self.topics = topics  # indexed arguments, topic0 not included
        self.data_words = data_words

    @classmethod
    def of(cls, inputs: Sequence[tuple[str, str, bool]]) -> ArgsPlan | None:
        """A plan for (name, canonical type, indexed) inputs; None if a type is not covered."""
        steps: list[_Step] = []
        topic = word = 0
        for name, abi_type, indexed in inputs:
            op_size = _op(abi_type, indexed)
            if op_size is None:
                return None
            op, size = op_size
            if indexed:
                topic += 1
                steps.append((name, f"{name}_text", op, topic, 0, size))
            else:
                steps.append((name, f"{name}_text", op, -1, 32 * word, size))
                word += 1
        return cls(tuple(steps), topic, word)

    def decode(self, topics: Sequence[Any], data: Any) -> dict[str, Any] | None:
        """The arguments by name, or None when the general path must decide."""
        if len(topics) != self.topics + 1:
            return None
        if type(data) is not str or data[:2] != "0x":
            return None
        try:
            raw = bytes.fromhex(data[2:])
        except ValueError:
            return None
        if len(data) != 2 + 2 * len(raw) or len(raw) < 32 * self.data_words:
            return None  # whitespace inside the hex, or too short
        args: dict[str, Any] = {}
        for name, text_name, op, topic_at, at, size in self.steps:
            if topic_at >= 0:
                topic = topics[topic_at]
                if type(topic) is not str or len(topic) != 66 or topic[:2] != "0x":
                    return None
                if op == ADDRESS:
                    if topic[2:26] != _HEX_ZERO24:
                        return None
                    address = _address(topic[26:])
                    if address is None:
                        return None
                    args[name] = address
                    continue
                try:
                    word = bytes.fromhex(topic[2:])
                except ValueError:
                    return None
                if len(word) != 32:
                    return None  # whitespace inside the hex (fromhex skips it)
                if op == HASHED:
                    args[name] = "0x" + word.hex()
                    continue
            else:
                if op in (STRING, BYTES):
                    value = _dynamic(raw, at, 32 * self.data_words)
                    if value is None:
                        return None
                    if op == BYTES:
                        args[name] = "0x" + value.hex()
                        continue
                    try:
                        text = value.decode("utf-8")
                    except UnicodeDecodeError:
                        return None
                    args[name] = text.replace("\0", "")
                    continue
                word = raw[at : at + 32]
                if op == ADDRESS:
                    if word[:12] != _ZERO12:
                        return None
                    args[name] = checksum("0x" + word[12:].hex())
                    continue
            if op == UINT:
                number = int.from_bytes(word, "big")
                if size < 256 and number >> size:
                    return None
                args[name] = str(number)
            elif op == INT:
                number = int.from_bytes(word, "big", signed=True)
                limit = 1 << (size - 1)
                if not -limit <= number < limit:
                    return None
                args[name] = str(number)
            elif op == FIXED:
                if size < 32 and any(word[size:]):
                    return None
                args[name] = "0x" + word[:size].hex()
                # A leading NUL is never text (ascii_text's answer, without the copy).
                label = ascii_text(word[:size]) if word[0] else None
                if label is not None:
                    args[text_name] = label
            elif op == BOOL:
                if word[:31] != _ZERO31 or word[31] > 1:
                    return None
                args[name] = word[31] == 1
            else:
                return None  # ADDRESS in a topic was handled above; nothing else remains
        return args


@lru_cache(maxsize=65536)
def _address(hex40: str) -> str | None:
    """The checksummed address of 40 hex digits, or None if they are not hex."""
    try:
        valid = len(bytes.fromhex(hex40)) == 20
    except ValueError:
        return None
    return checksum("0x" + hex40) if valid else None


def _dynamic(raw: bytes, head: int, head_size: int) -> bytes | None:
    """The bytes a head word points to, if pointer, length and zero padding are all valid."""
    offset = int.from_bytes(raw[head : head + 32], "big")
    if offset < head_size or offset + 32 > len(raw):
        return None
    length = int.from_bytes(raw[offset : offset + 32], "big")
    start = offset + 32
    end = start + length
    padded = start + (length + 31) // 32 * 32
    if padded > len(raw) or any(raw[end:padded]):
        return None
    return raw[start:end]

"""A block's logsBloom and our contracts: may the block hold one of their logs?

The bloom of a block header is 2048 bits; every log sets three bits for its address (and
three per topic). The bits of a value are taken from keccak256(value): each of the first
three byte pairs, big-endian, modulo 2048, numbers a bit counted from the least significant
end of the 256-byte bloom read as a big-endian integer. A bloom never misses a value that is
in it (no false negatives), so a block whose bloom lacks every one of our addresses holds
none of our logs; a bloom that has one may still be a false positive.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_utils.crypto import keccak

BLOOM_BITS = 2048


def bloom_mask(value: bytes) -> int:
    """The three bits `value` sets in a bloom, as an int mask."""
    digest = keccak(value)
    mask = 0
    for i in (0, 2, 4):
        mask |= 1 << (int.from_bytes(digest[i : i + 2], "big") % BLOOM_BITS)
    return mask


def parse_bloom(value: object) -> int | None:
    """A header's logsBloom as an int; None when the header has no usable bloom."""
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big") if len(value) == BLOOM_BITS // 8 else None
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) == 2 + 512:
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


class AddressBloom:
    """The bloom bits of our contract addresses, computed once."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.masks = [bloom_mask(bytes.fromhex(a.lower().removeprefix("0x"))) for a in addresses]

    def may_log(self, bloom: int) -> bool:
        """Tell whether a block with this bloom may hold a log of one of our addresses."""
        return any(bloom & mask == mask for mask in self.masks)

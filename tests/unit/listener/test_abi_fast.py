"""The fast argument decoder against eth_abi: equal results, or None where eth_abi refuses."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_abi.abi import decode as eth_decode
from eth_abi.abi import encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address

from listener.abi_fast import ArgsPlan
from listener.abi_values import fixed_text, json_value

Inputs = list[tuple[str, str, bool]]
STATIC = [
    "address",
    "bool",
    "uint8",
    "uint32",
    "uint64",
    "uint256",
    "int8",
    "int64",
    "int256",
    "bytes1",
    "bytes3",
    "bytes12",
    "bytes32",
]
DYNAMIC = ["string", "bytes"]


def reference(inputs: Inputs, topics: list[str], data: bytes) -> dict[str, Any]:
    """The arguments as eth_abi decodes them, made JSON-safe the way the listener does."""
    values = iter(eth_decode([t for _, t, indexed in inputs if not indexed], data))
    args: dict[str, Any] = {}
    at = 0
    for name, abi_type, indexed in inputs:
        if indexed:
            at += 1
            word = bytes.fromhex(topics[at][2:])
            if abi_type in DYNAMIC:
                args[name] = "0x" + word.hex()
                continue
            value = eth_decode([abi_type], word)[0]
        else:
            value = next(values)
        args[name] = json_value(abi_type, value)
        text = fixed_text(abi_type, value)
        if text is not None:
            args[f"{name}_text"] = text
    return args


def random_value(rng: random.Random, abi_type: str) -> Any:
    if abi_type == "address":
        return "0x" + rng.randbytes(20).hex()
    if abi_type == "bool":
        return rng.random() < 0.5
    if abi_type.startswith("uint"):
        bits = int(abi_type[4:])
        return rng.choice([0, 1, 2**bits - 1, rng.getrandbits(bits)])
    if abi_type.startswith("int"):
        bits = int(abi_type[3:])
        return rng.choice(
            [
                0,
                -1,
                -(2 ** (bits - 1)),
                2 ** (bits - 1) - 1,
                rng.getrandbits(bits) - 2 ** (bits - 1),
            ]
        )
    if abi_type.startswith("bytes") and abi_type != "bytes":
        size = int(abi_type[5:])
        return rng.choice([bytes(size), b"EUR"[:size].ljust(size, b"\0"), rng.randbytes(size)])
    if abi_type == "bytes":
        return rng.randbytes(rng.choice([0, 1, 31, 32, 33, 70]))
    return rng.choice(["", "IRS-EUR-10Y", "a\0b", "Zürich €", "x" * 65])


def random_event(rng: random.Random) -> tuple[Inputs, list[str], bytes]:
    inputs: Inputs = []
    topics = ["0x" + rng.randbytes(32).hex()]
    data_types, data_values = [], []
    for n in range(rng.randint(0, 7)):
        abi_type = rng.choice(STATIC + DYNAMIC)
        indexed = len(topics) < 4 and rng.random() < 0.4
        inputs.append((f"a{n}", abi_type, indexed))
        value = random_value(rng, abi_type)
        if indexed:
            word = rng.randbytes(32) if abi_type in DYNAMIC else encode([abi_type], [value])
            topics.append("0x" + word.hex())
        else:
            data_types.append(abi_type)
            data_values.append(value)
    return inputs, topics, encode(data_types, data_values)


def plan_of(inputs: Inputs) -> ArgsPlan:
    plan = ArgsPlan.of(inputs)
    assert plan is not None
    return plan


@pytest.mark.parametrize("seed", range(8))
def test_fuzzed_valid_encodings_decode_exactly_as_eth_abi(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        inputs, topics, data = random_event(rng)
        assert plan_of(inputs).decode(topics, "0x" + data.hex()) == reference(inputs, topics, data)


def corrupt(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return b"\x01"
    choice = rng.randrange(4)
    if choice == 0:
        return data[: rng.randrange(len(data))]  # truncated
    spot = rng.randrange(len(data))
    if choice == 1:
        return data[:spot] + bytes([data[spot] ^ (1 << rng.randrange(8))]) + data[spot + 1 :]
    if choice == 2:
        return data[:spot] + b"\xff" + data[spot + 1 :]
    return data + rng.randbytes(rng.randrange(1, 40))  # trailing bytes (eth_abi ignores them)


@pytest.mark.parametrize("seed", range(8))
def test_fuzzed_corrupt_data_is_left_to_the_general_path_whenever_eth_abi_refuses(
    seed: int,
) -> None:
    rng = random.Random(1000 + seed)
    refused = 0
    for _ in range(300):
        inputs, topics, data = random_event(rng)
        data = corrupt(rng, data)
        fast = plan_of(inputs).decode(topics, "0x" + data.hex())
        try:
            expected = reference(inputs, topics, data)
        except (DecodingError, ValueError, OverflowError):
            refused += 1
            assert fast is None, (inputs, data.hex())
            continue
        assert fast is None or fast == expected, (inputs, data.hex())
    assert refused > 0


def test_edge_values_exact() -> None:
    inputs: Inputs = [
        ("u", "uint256", False),
        ("i", "int256", False),
        ("a", "address", False),
        ("s", "string", False),
        ("b", "bytes", False),
        ("c", "bytes3", False),
        ("who", "address", True),
        ("n", "int8", True),
        ("h", "string", True),
    ]
    who = "0x" + "c3" * 20
    data = encode(
        ["uint256", "int256", "address", "string", "bytes", "bytes3"],
        [2**256 - 1, -(2**255), "0x" + "ab" * 20, "a\0b", b"", b"EUR"],
    )
    topics = [
        "0x" + "11" * 32,
        "0x" + "00" * 12 + "c3" * 20,
        "0x" + encode(["int8"], [-128]).hex(),
        "0x" + "99" * 32,
    ]
    assert plan_of(inputs).decode(topics, "0x" + data.hex()) == {
        "u": str(2**256 - 1),
        "i": str(-(2**255)),
        "a": to_checksum_address("0x" + "ab" * 20),
        "s": "ab",
        "b": "0x",
        "c": "0x455552",
        "c_text": "EUR",
        "who": to_checksum_address(who),
        "n": "-128",
        "h": "0x" + "99" * 32,
    }


@pytest.mark.parametrize(
    ("inputs", "topics", "data"),
    [
        # bad hex, whitespace, uppercase-free prefix missing, wrong topic count or length
        ([("v", "uint256", False)], ["0x" + "00" * 32], "0x" + "zz" * 32),
        ([("v", "uint256", False)], ["0x" + "00" * 32], "0x" + "00 " * 32),
        ([("v", "uint256", False)], ["0x" + "00" * 32], "00" * 32),
        ([("v", "uint256", True)], ["0x" + "00" * 32], "0x"),
        ([("v", "uint256", True)], ["0x" + "00" * 32, "0x" + "00" * 31], "0x"),
        ([("v", "address", True)], ["0x" + "00" * 32, "0x" + "00" * 12 + "g0" * 20], "0x"),
        # whitespace inside a topic's hex: 66 characters, but 21 bytes
        ([("v", "uint256", True)], ["0x" + "00" * 32, "0x" + "00 " * 21 + " "], "0x"),
        ([("v", "bytes32", True)], ["0x" + "00" * 32, "0x" + "ab " * 21 + " "], "0x"),
        ([("v", "string", True)], ["0x" + "00" * 32, "0x" + "ab " * 21 + " "], "0x"),
        ([("v", "address", True)], ["0x" + "00" * 32, "0x01" + "00" * 11 + "a0" * 20], "0x"),
        # invalid UTF-8 in a string
        (
            [("s", "string", False)],
            ["0x" + "00" * 32],
            "0x"
            + (32).to_bytes(32, "big").hex()
            + (2).to_bytes(32, "big").hex()
            + "ff" * 2
            + "00" * 30,
        ),
    ],
)
def test_malformed_logs_are_left_to_the_general_path(
    inputs: Inputs, topics: list[str], data: str
) -> None:
    assert plan_of(inputs).decode(topics, data) is None


def test_shapes_it_does_not_cover_have_no_plan() -> None:
    assert ArgsPlan.of([("x", "uint256[]", False)]) is None
    assert ArgsPlan.of([("x", "(uint8,bool)", False)]) is None
    assert ArgsPlan.of([("x", "uint7", False)]) is None
    assert ArgsPlan.of([("x", "bytes33", False)]) is None

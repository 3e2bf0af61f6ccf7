"""Decoder on hand-built logs: indexed and data arguments, JSON-safe values, skipped logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from dpo.chain.artifacts import ABI_DIR_ENV, load_artifact
from listener.abi_values import ascii_text, canonical_type, event_topic, json_value, word_decoder
from listener.decode import Decoder

STO = "0x00000000000000000000000000000000000000a1"
TOKEN = "0x00000000000000000000000000000000000000b2"
INVESTOR = "0x00000000000000000000000000000000000000c3"
MAX = 2**256 - 1


def topic_of(contract: str, event: str) -> str:
    """topic0 of an event of one of our artefacts."""
    for item in load_artifact(contract).abi:
        if item.get("type") == "event" and item["name"] == event:
            return event_topic(item)
    raise AssertionError(event)


def word(value: bytes) -> str:
    """A 32-byte topic as 0x-hex."""
    return "0x" + value.rjust(32, b"\0").hex()


def raw_log(address: str, topics: list[str], data: bytes, **extra: Any) -> dict[str, Any]:
    """An eth_getLogs entry as a JSON-RPC provider returns it (hex strings)."""
    log = {
        "address": address,
        "topics": topics,
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "AB" * 32,
        "transactionHash": "0x" + "cd" * 32,
        "transactionIndex": "0x2",
        "logIndex": "0x7",
        "removed": False,
    }
    log.update(extra)
    return log


@pytest.fixture
def decoder() -> Decoder:
    return Decoder(42170, {STO: "STO", TOKEN: "Issuance"})


def test_investment_received_decodes_indexed_and_data_args_as_exact_strings(
    decoder: Decoder,
) -> None:
    ref = bytes(range(32))
    log = raw_log(
        STO,
        [
            topic_of("STO", "InvestmentReceived"),
            word((7).to_bytes(32, "big")),
            word(bytes.fromhex(INVESTOR[2:])),
        ],
        encode(["uint256", "uint256", "bytes32"], [MAX, 3, ref]),
    )
    decoded = decoder.decode(log)
    assert decoded is not None
    assert decoded.contract_address == to_checksum_address(STO)
    assert (decoded.contract_name, decoded.event_name) == ("STO", "InvestmentReceived")
    assert (decoded.block_number, decoded.tx_index, decoded.log_index) == (16, 2, 7)
    assert decoded.block_hash == "0x" + "ab" * 32
    assert decoded.chain_id == 42170
    assert decoded.args == {
        "offeringId": "7",
        "investor": to_checksum_address(INVESTOR),
        "amount": str(MAX),
        "units": "3",
        "investmentRef": "0x" + ref.hex(),
    }
    assert json.loads(json.dumps(decoded.args)) == decoded.args
    assert decoder.skipped == 0


def test_offering_created_gives_bytes3_currency_as_hex_and_text(decoder: Decoder) -> None:
    log = raw_log(
        STO,
        [
            topic_of("STO", "OfferingCreated"),
            word((1).to_bytes(32, "big")),
            word(bytes.fromhex(TOKEN[2:])),
        ],
        encode(
            ["bytes3", "uint256", "uint256", "uint256", "uint64", "uint64"],
            [b"EUR", 100, 0, 10_000, 1, 2],
        ),
    )
    decoded = decoder.decode(log)
    assert decoded is not None
    assert decoded.args["currency"] == "0x455552"
    assert decoded.args["currency_text"] == "EUR"
    assert decoded.args["token"] == to_checksum_address(TOKEN)
    assert (decoded.args["opensAt"], decoded.args["closesAt"]) == ("1", "2")


def test_web3_style_log_with_ints_and_bytes_decodes_the_same(decoder: Decoder) -> None:
    topics = [topic_of("Issuance", "Transfer"), word(b""), word(bytes.fromhex(INVESTOR[2:]))]
    data = encode(["uint256"], [5])
    hexed = decoder.decode(raw_log(TOKEN, topics, data))
    typed = decoder.decode(
        {
            "address": to_checksum_address(TOKEN),
            "topics": [bytes.fromhex(t[2:]) for t in topics],
            "data": data,
            "blockNumber": 16,
            "blockHash": bytes.fromhex("ab" * 32),
            "transactionHash": bytes.fromhex("cd" * 32),
            "transactionIndex": 2,
            "logIndex": 7,
        }
    )
    assert hexed == typed
    assert hexed is not None
    assert hexed.args == {
        "from": "0x" + "0" * 40,
        "to": to_checksum_address(INVESTOR),
        "value": "5",
    }


def test_unknown_topic_address_and_undecodable_data_are_skipped_and_counted(
    decoder: Decoder,
) -> None:
    transfer = topic_of("Issuance", "Transfer")
    logs = [
        raw_log(TOKEN, ["0x" + "11" * 32], b""),
        raw_log(INVESTOR, [transfer, word(b""), word(b"")], encode(["uint256"], [1])),
        raw_log(TOKEN, [transfer, word(b"")], encode(["uint256"], [1])),
        raw_log(TOKEN, [transfer, word(b""), word(b"")], b"\x01"),
        raw_log(TOKEN, [], b""),
    ]
    assert decoder.decode_all(logs) == []
    assert decoder.skipped == 5


def test_an_event_of_another_contract_at_the_same_topic_needs_its_address(
    decoder: Decoder,
) -> None:
    other = Decoder(1, {TOKEN: "Issuance"})
    log = raw_log(
        STO,
        [topic_of("STO", "OfferingClosed"), word(b"\x01")],
        encode(["uint256", "uint256"], [1, 2]),
    )
    assert other.decode(log) is None
    assert decoder.decode(log) is not None


def test_abi_dir_drop_in_replaces_the_bundled_abi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = {
        "type": "event",
        "name": "Ping",
        "anonymous": False,
        "inputs": [
            {"name": "who", "type": "string", "indexed": True},
            {"name": "n", "type": "int8", "indexed": False},
        ],
    }
    (tmp_path / "STO.json").write_text(json.dumps([event]))
    monkeypatch.setenv(ABI_DIR_ENV, str(tmp_path))
    decoder = Decoder(1, {STO: "STO"})
    decoded = decoder.decode(
        raw_log(STO, [event_topic(event), word(b"\x09" * 32)], encode(["int8"], [-3]))
    )
    assert decoded is not None
    assert decoded.args == {"who": "0x" + "09" * 32, "n": "-3"}


def test_json_values_of_arrays_tuples_strings_and_text_detection() -> None:
    assert json_value("uint256[]", [1, 2]) == ["1", "2"]
    assert json_value("(uint8,bool)", (1, True)) == ["1", True]
    assert json_value("string", "a\0b") == "ab"
    assert json_value("bytes", b"\x00\xff") == "0x00ff"
    assert canonical_type({"type": "tuple[]", "components": [{"type": "address"}]}) == "(address)[]"
    assert ascii_text(b"LEI12345\0\0") == "LEI12345"
    assert ascii_text(b"\0\0") is None
    assert ascii_text(b"\x01abc") is None


@pytest.mark.parametrize(
    ("abi_type", "value"),
    [
        ("uint256", MAX),
        ("uint256", 0),
        ("uint8", 255),
        ("uint64", 2**64 - 1),
        ("int256", -(2**255)),
        ("int8", -1),
        ("int32", 2**31 - 1),
        ("address", "0x" + "ab" * 20),
        ("bool", True),
        ("bool", False),
        ("bytes3", b"EUR"),
        ("bytes32", bytes(range(32))),
        ("bytes12", b"DE000A1B2C35"),
    ],
)
def test_fast_word_decoders_agree_with_eth_abi(abi_type: str, value: Any) -> None:
    from eth_abi.abi import decode

    fast = word_decoder(abi_type)
    assert fast is not None
    word = encode([abi_type], [value])
    assert fast(word)[0] == json_value(abi_type, decode([abi_type], word)[0])


@pytest.mark.parametrize(
    ("abi_type", "word"),
    [
        ("address", b"\x01" + b"\0" * 31),
        ("bool", b"\0" * 31 + b"\x02"),
        ("uint8", b"\0" * 30 + b"\x01\x00"),
        ("int8", b"\0" * 31 + b"\x80"),
        ("bytes3", b"EUR" + b"\x01" + b"\0" * 28),
    ],
)
def test_fast_word_decoders_refuse_bad_padding(abi_type: str, word: bytes) -> None:
    from eth_abi.exceptions import DecodingError

    fast = word_decoder(abi_type)
    assert fast is not None
    with pytest.raises(DecodingError):
        fast(word)


def test_dynamic_data_falls_back_to_the_general_decoder() -> None:
    reporter = "0x00000000000000000000000000000000000000d4"
    decoder = Decoder(1, {reporter: "DerivativesReporter"})
    data = encode(
        ["uint32", "string", "uint256", "bytes3", "bytes32", "bytes32"],
        [2, "IRS", 5, b"USD", b"A" * 32, b"\xff" * 32],
    )
    log = raw_log(
        reporter,
        [
            topic_of("DerivativesReporter", "TradeReported"),
            word(b"UTI-1".ljust(32, b"\0")),
            word(b"\x02"),
            word(bytes.fromhex(INVESTOR[2:])),
        ],
        data,
    )
    decoded = decoder.decode(log)
    assert decoded is not None
    assert decoded.args["uti_text"] == "UTI-1"
    assert decoded.args["product"] == "IRS"
    assert (decoded.args["version"], decoded.args["action"]) == ("2", "2")
    assert decoded.args["currency_text"] == "USD"
    assert decoded.args["counterpartyA_text"] == "A" * 32
    assert "counterpartyB_text" not in decoded.args
    assert word_decoder("string") is None


def test_decoder_from_settings_knows_the_configured_contracts_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dpo.settings import Settings

    for var in ("DERIVATIVES_REPORTER_CONTRACT_ADDRESS", "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(
        _env_file=None,
        ISSUANCE_CONTRACT_ADDRESS=TOKEN,
        STO_CONTRACT_ADDRESS=STO,
        BLOCKCHAIN_NETWORK="arbitrum-nova",
    )
    decoder = Decoder.from_settings(settings)
    assert decoder.chain_id == 42170
    assert decoder.addresses == sorted([to_checksum_address(STO), to_checksum_address(TOKEN)])


def test_a_topic_with_whitespace_in_its_hex_is_skipped_not_read_short(decoder: Decoder) -> None:
    # 66 characters that fromhex reads as 21 bytes: the fast path used to take them as
    # offeringId 0; both paths now refuse the log, as eth_abi does.
    data = encode(["uint256", "bytes32"], [5, bytes(32)])
    issued = topic_of("Issuance", "Issued")
    good = raw_log(TOKEN, [issued, word(b"\x07"), word(bytes.fromhex(INVESTOR[2:]))], data)
    bad = raw_log(TOKEN, [issued, "0x" + "00 " * 21 + " ", word(bytes.fromhex(INVESTOR[2:]))], data)
    decoded = decoder.decode_all([good, bad])
    assert [log.args["offeringId"] for log in decoded] == ["7"]
    assert decoder.skipped == 1

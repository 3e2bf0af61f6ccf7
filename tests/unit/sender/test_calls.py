"""Calldata and readable revert reasons from the contracts' ABIs."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from dpo.money import decimal_to_minor
from dpo.sender.calls import Contracts
from dpo.sender.verdicts import Order

STO = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
REF = "0x" + "ab" * 32
CONTRACTS = Contracts(sto=STO, issuance=TOKEN)


def error(signature: str, types: list[str], values: list[object]) -> str:
    return (
        "0x"
        + (bytes(function_signature_to_4byte_selector(signature)) + encode(types, values)).hex()
    )


def test_custom_errors_are_named_with_their_arguments() -> None:
    data = error("HardCapExceeded(uint256,uint256,uint256)", ["uint256"] * 3, [1, 0, 1000])
    assert CONTRACTS.reason(data, "execution reverted") == (
        "HardCapExceeded(offeringId=1, remaining=0, amount=1000)"
    )
    ref = error("ReferenceAlreadyUsed(bytes32)", ["bytes32"], [bytes.fromhex("ab" * 32)])
    assert CONTRACTS.reason(ref, "") == f"ReferenceAlreadyUsed(ref={REF})"


def test_error_string_panic_unknown_and_empty() -> None:
    assert CONTRACTS.reason(error("Error(string)", ["string"], ["nope"]), "") == "nope"
    assert CONTRACTS.reason(error("Panic(uint256)", ["uint256"], [0x11]), "") == (
        "Panic(arithmetic overflow or underflow)"
    )
    assert CONTRACTS.reason("0xdeadbeef", "") == "unknown error 0xdeadbeef"
    assert CONTRACTS.reason(None, "execution reverted") == "execution reverted"
    assert CONTRACTS.reason(None, "") == "reverted without a reason"
    truncated = error("HardCapExceeded(uint256,uint256,uint256)", ["uint256"], [1])
    assert CONTRACTS.reason(truncated, "") == "HardCapExceeded(<undecodable arguments>)"


def test_calls_target_the_right_contract_and_function() -> None:
    order = Order(offering_id=7, investor="0x" + "cd" * 20, amount=3000, units=3)
    invest = CONTRACTS.call_for("invest", order, REF)
    issue = CONTRACTS.call_for("issue", order, REF, token=TOKEN)
    refund = CONTRACTS.call_for("refund", order, REF)
    assert invest.to.lower() == STO
    assert issue.to.lower() == TOKEN
    assert invest.data.startswith(
        "0x"
        + function_signature_to_4byte_selector(
            "invest(uint256,address,uint256,uint256,bytes32)"
        ).hex()
    )
    assert refund.data.startswith(
        "0x" + function_signature_to_4byte_selector("refund(uint256,address,uint256,bytes32)").hex()
    )
    assert issue.as_record()["args"] == {
        "to": issue.args["to"],
        "amount": "3",
        "offeringId": "7",
        "investmentRef": REF,
    }


def test_minor_units() -> None:
    from decimal import Decimal

    import pytest

    assert decimal_to_minor(Decimal("30.00"), "EUR") == 3000
    assert decimal_to_minor(Decimal("30"), "JPY") == 30
    assert decimal_to_minor(Decimal("1.234"), "KWD") == 1234
    with pytest.raises(ValueError, match="minor units"):
        decimal_to_minor(Decimal("0.001"), "EUR")

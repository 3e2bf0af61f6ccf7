"""The contract calls of each intent kind, the chain checks, and readable revert reasons.

Calldata comes from the bundled (or DPO_ABI_DIR) artefacts through web3.py's encoder; views
are plain eth_call requests decoded with eth_abi; a revert's data is decoded against every
custom error of STO and Issuance (and Solidity's Error(string) / Panic(uint256)), so ops read
`HardCapExceeded(offeringId=1, remaining=0, amount=1000)` instead of hex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3

from dpo.chain.artifacts import load_artifact
from dpo.sender.verdicts import Order

_PANIC = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x32: "array index out of bounds",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One contract call: where, which function, with what (for the record), and calldata."""

    to: str
    function: str
    args: dict[str, Any]
    data: str

    def as_record(self) -> dict[str, Any]:
        """The JSON kept on the intent (big integers as strings)."""
        shown = {
            k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in self.args.items()
        }
        return {"to": self.to, "function": self.function, "args": shown}


def _error_table(abis: list[list[dict[str, Any]]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for abi in abis:
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [str(i["type"]) for i in entry.get("inputs", [])]
            names = [str(i.get("name") or f"arg{n}") for n, i in enumerate(entry["inputs"])]
            selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
            table[bytes(selector)] = (str(entry["name"]), types, names)
    table[bytes(function_signature_to_4byte_selector("Error(string)"))] = (
        "Error",
        ["string"],
        ["message"],
    )
    table[bytes(function_signature_to_4byte_selector("Panic(uint256)"))] = (
        "Panic",
        ["uint256"],
        ["code"],
    )
    return table


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class Contracts:
    """STO and Issuance: calldata for the intents, the chain checks, revert reasons."""

    def __init__(self, *, sto: str, issuance: str) -> None:
        w3 = Web3()
        sto_abi, issuance_abi = load_artifact("STO").abi, load_artifact("Issuance").abi
        self.sto_address = to_checksum_address(sto)
        self.issuance_address = to_checksum_address(issuance)
        self._sto = w3.eth.contract(abi=sto_abi)
        self._issuance = w3.eth.contract(abi=issuance_abi)
        self._errors = _error_table([sto_abi, issuance_abi])
        self._unknown_investment = bytes(
            function_signature_to_4byte_selector("UnknownInvestment(bytes32)")
        )

    def call_for(self, kind: str, order: Order, reference: str, token: str | None = None) -> Call:
        """The call an intent of this kind makes for this order."""
        ref = bytes.fromhex(reference[2:])
        investor = to_checksum_address(order.investor)
        if kind == "invest":
            args: dict[str, Any] = {
                "offeringId": order.offering_id,
                "investor": investor,
                "amount": order.amount,
                "units": order.units,
                "investmentRef": reference,
            }
            data = self._sto.encode_abi(
                "invest", [order.offering_id, investor, order.amount, order.units, ref]
            )
            return Call(self.sto_address, "invest", args, data)
        if kind == "issue":
            to = to_checksum_address(token) if token else self.issuance_address
            args = {
                "to": investor,
                "amount": order.units,
                "offeringId": order.offering_id,
                "investmentRef": reference,
            }
            data = self._issuance.encode_abi(
                "issue", [investor, order.units, order.offering_id, ref]
            )
            return Call(to, "issue", args, data)
        if kind == "refund":
            args = {
                "offeringId": order.offering_id,
                "investor": investor,
                "amount": order.amount,
                "investmentRef": reference,
            }
            data = self._sto.encode_abi("refund", [order.offering_id, investor, order.amount, ref])
            return Call(self.sto_address, "refund", args, data)
        raise ValueError(f"no call for intent kind {kind!r}")

    def get_investment_data(self, reference: str) -> str:
        """Calldata of STO.getInvestment(ref)."""
        return str(self._sto.encode_abi("getInvestment", [bytes.fromhex(reference[2:])]))

    def is_issued_data(self, reference: str) -> str:
        """Calldata of Issuance.isIssuedRef(ref)."""
        return str(self._issuance.encode_abi("isIssuedRef", [bytes.fromhex(reference[2:])]))

    @staticmethod
    def decode_investment(result: str) -> Order:
        """STO.getInvestment's answer as an Order."""
        (value,) = abi_decode(["(uint256,address,bool,uint256,uint256)"], bytes.fromhex(result[2:]))
        offering_id, investor, refunded, amount, units = value
        return Order(
            offering_id=int(offering_id),
            investor=str(investor),
            amount=int(amount),
            units=int(units),
            refunded=bool(refunded),
        )

    @staticmethod
    def decode_bool(result: str) -> bool:
        """A view's single bool."""
        (value,) = abi_decode(["bool"], bytes.fromhex(result[2:]))
        return bool(value)

    def is_unknown_investment(self, data: str | None) -> bool:
        """Whether revert data is STO's UnknownInvestment (getInvestment of a free ref)."""
        return bool(data) and bytes.fromhex(str(data)[2:10]) == self._unknown_investment

    def reason(self, data: str | None, message: str) -> str:
        """A readable revert reason from revert data, else the node's message."""
        if not data or len(data) < 10:
            return message or "reverted without a reason"
        raw = bytes.fromhex(data[2:])
        known = self._errors.get(raw[:4])
        if known is None:
            return f"unknown error 0x{raw[:4].hex()}"
        name, types, names = known
        try:
            values = abi_decode(types, raw[4:])
        except Exception:  # malformed data still gets its error's name
            return f"{name}(<undecodable arguments>)"
        if name == "Panic":
            return f"Panic({_PANIC.get(int(values[0]), hex(int(values[0])))})"
        if name == "Error":
            return str(values[0])[:300]
        shown = ", ".join(f"{n}={_show(v)}" for n, v in zip(names, values, strict=True))
        return f"{name}({shown})"

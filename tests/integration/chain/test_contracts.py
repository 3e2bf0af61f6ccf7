"""Every event path of the four contracts on a real anvil, deployed by deploy_all."""

from __future__ import annotations

import os
from typing import Any

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError

from dpo.chain.artifacts import CONTRACT_ARTIFACTS, load_artifact
from tests.integration.chain.conftest import ANVIL_ADDRESS

pytestmark = pytest.mark.needs_chain

ZERO = "0x0000000000000000000000000000000000000000"
EUR = b"EUR"
PENDING, INSTRUCTED, SETTLED, FAILED, CANCELLED = 1, 2, 3, 4, 5
NEW, MODIFY, CANCEL = 1, 2, 3


def ref() -> bytes:
    """A fresh bytes32 reference."""
    return os.urandom(32)


def lei(text: str) -> bytes:
    """An LEI, left-aligned in bytes32."""
    return text.encode().ljust(32, b"\0")


def isin() -> bytes:
    """A fresh 12-character ISIN-shaped identifier."""
    return ("XS" + os.urandom(5).hex().upper()).encode()


class Chain:
    """The deployed contracts plus helpers to send, expect refusals and decode events."""

    def __init__(self, w3: AsyncWeb3[AsyncHTTPProvider], addresses: dict[str, str]) -> None:
        self.w3 = w3
        self.by_address: dict[str, AsyncContract] = {}
        contracts: dict[str, AsyncContract] = {}
        for var, name in CONTRACT_ARTIFACTS.items():
            address = AsyncWeb3.to_checksum_address(addresses[var])
            contract = w3.eth.contract(address=address, abi=load_artifact(name).abi)
            contracts[name] = contract
            self.by_address[contract.address] = contract
        self.token = contracts["Issuance"]
        self.sto = contracts["STO"]
        self.reporter = contracts["DerivativesReporter"]
        self.bridge = contracts["EuroclearBridge"]
        self.admin = ANVIL_ADDRESS
        # Custom errors of every contract by selector, since a call may revert in another one.
        self.errors: dict[bytes, tuple[str, list[str]]] = {}
        for name in CONTRACT_ARTIFACTS.values():
            for item in load_artifact(name).abi:
                if item["type"] == "error":
                    types = [i["type"] for i in item["inputs"]]
                    selector = AsyncWeb3.keccak(text=f"{item['name']}({','.join(types)})")[:4]
                    self.errors[selector] = (item["name"], types)

    async def account(self) -> str:
        """A fresh funded account that anvil signs for (impersonated)."""
        address = AsyncWeb3.to_checksum_address(os.urandom(20))
        await self.w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])
        await self.w3.provider.make_request("anvil_impersonateAccount", [address])
        return address

    async def investor(self, tokens: int = 0) -> str:
        """A fresh account verified on the token, holding `tokens` freshly issued tokens."""
        address = await self.account()
        await self.send(self.token.functions.verifyInvestor(address))
        if tokens:
            await self.send(self.token.functions.issue(address, tokens, 0, ref()))
        return address

    async def send(self, fn: Any, sender: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Send a contract call, require success, return the decoded events in log order."""
        tx_hash = await fn.transact({"from": sender or self.admin})
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return [self.decode(log) for log in receipt["logs"]]

    async def refused(self, fn: Any, error: str, *args: Any, sender: str | None = None) -> None:
        """Require the call to revert with custom error `error` (and these args, if given)."""
        with pytest.raises(ContractCustomError) as info:
            await fn.transact({"from": sender or self.admin})
        data = bytes.fromhex(str(info.value.data).removeprefix("0x"))
        name, types = self.errors[data[:4]]
        assert name == error
        if args:
            assert self.error_args(types, data[4:]) == args

    def error_args(self, types: list[str], data: bytes) -> tuple[Any, ...]:
        """Decode a custom error's arguments, addresses checksummed like web3's events."""
        values = self.w3.codec.decode(types, data)
        return tuple(
            AsyncWeb3.to_checksum_address(v) if t == "address" else v
            for t, v in zip(types, values, strict=True)
        )

    def decode(self, log: Any) -> tuple[str, dict[str, Any]]:
        """Decode a log of one of our contracts into (event name, args)."""
        contract = self.by_address[log["address"]]
        for item in contract.abi:
            if item["type"] != "event":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            if log["topics"][0] == AsyncWeb3.keccak(text=signature):
                event = contract.events[item["name"]]().process_log(log)
                return event["event"], dict(event["args"])
        raise AssertionError(f"unknown log {log}")

    async def now(self) -> int:
        """The latest block's timestamp."""
        block = await self.w3.eth.get_block("latest")
        return int(block["timestamp"])

    async def advance(self, seconds: int) -> None:
        """Move chain time forward and mine a block."""
        await self.w3.provider.make_request("evm_increaseTime", [seconds])
        await self.w3.provider.make_request("evm_mine", [])


@pytest.fixture(scope="module")
async def chain(w3: AsyncWeb3[AsyncHTTPProvider], deployed: dict[str, str]) -> Chain:
    """The contracts deployed for this module."""
    return Chain(w3, deployed)


# ---- deployment ----


async def test_deploy_all_returns_checksummed_addresses_and_wires_roles(
    chain: Chain, deployed: dict[str, str]
) -> None:
    assert set(deployed) == set(CONTRACT_ARTIFACTS)
    assert len(set(deployed.values())) == 4
    for address in deployed.values():
        assert address == AsyncWeb3.to_checksum_address(address)
        assert len(await chain.w3.eth.get_code(AsyncWeb3.to_checksum_address(address))) > 0
    for contract in (chain.token, chain.sto, chain.reporter, chain.bridge):
        assert await contract.functions.owner().call() == chain.admin
        assert await contract.functions.isAgent(chain.admin).call() is True
    assert await chain.token.functions.isVerified(chain.bridge.address).call() is True
    assert await chain.token.functions.decimals().call() == 0
    assert await chain.token.functions.name().call() == "DPO Security Token"
    assert await chain.token.functions.symbol().call() == "DPOST"


async def test_only_the_owner_manages_agents(chain: Chain) -> None:
    outsider = await chain.account()
    await chain.refused(
        chain.sto.functions.addAgent(outsider), "NotOwner", outsider, sender=outsider
    )
    events = await chain.send(chain.reporter.functions.addAgent(outsider))
    assert events == [("AgentAdded", {"agent": outsider})]
    assert await chain.reporter.functions.isAgent(outsider).call() is True
    events = await chain.send(chain.reporter.functions.removeAgent(outsider))
    assert events == [("AgentRemoved", {"agent": outsider})]
    await chain.refused(chain.reporter.functions.removeAgent(outsider), "AgentNotFound", outsider)


# ---- Issuance ----


async def test_issue_to_verified_investor(chain: Chain) -> None:
    investor = await chain.account()
    events = await chain.send(chain.token.functions.verifyInvestor(investor))
    assert events == [("InvestorVerified", {"investor": investor, "agent": chain.admin})]
    supply = await chain.token.functions.totalSupply().call()
    investment = ref()
    events = await chain.send(chain.token.functions.issue(investor, 100, 7, investment))
    assert events == [
        ("Transfer", {"from": ZERO, "to": investor, "value": 100}),
        ("Issued", {"offeringId": 7, "to": investor, "amount": 100, "investmentRef": investment}),
    ]
    assert await chain.token.functions.balanceOf(investor).call() == 100
    assert await chain.token.functions.totalSupply().call() == supply + 100
    assert await chain.token.functions.isIssuedRef(investment).call() is True
    # The same investment cannot be issued twice (a retried back-end call).
    await chain.refused(
        chain.token.functions.issue(investor, 100, 7, investment),
        "ReferenceAlreadyUsed",
        investment,
    )


async def test_issue_refusals(chain: Chain) -> None:
    stranger = await chain.account()
    investor = await chain.investor()
    token = chain.token.functions
    await chain.refused(token.issue(stranger, 5, 1, ref()), "InvestorNotVerified", stranger)
    await chain.refused(token.issue(investor, 0, 1, ref()), "ZeroAmount")
    await chain.refused(token.issue(investor, 5, 1, b"\0" * 32), "EmptyReference")
    await chain.refused(token.issue(investor, 5, 1, ref()), "NotAgent", stranger, sender=stranger)
    await chain.refused(token.verifyInvestor(investor), "AlreadyVerified", investor)
    await chain.refused(token.unverifyInvestor(stranger), "NotVerified", stranger)
    assert await token.balanceOf(stranger).call() == 0
    events = await chain.send(token.unverifyInvestor(investor))
    assert events == [("InvestorUnverified", {"investor": investor, "agent": chain.admin})]
    await chain.refused(token.issue(investor, 5, 1, ref()), "InvestorNotVerified", investor)


async def test_transfer_and_transfer_from(chain: Chain) -> None:
    alice, bob = await chain.investor(100), await chain.investor()
    stranger, spender = await chain.account(), await chain.account()
    token = chain.token.functions
    events = await chain.send(token.transfer(bob, 30), alice)
    assert events == [("Transfer", {"from": alice, "to": bob, "value": 30})]
    await chain.refused(token.transfer(stranger, 1), "InvestorNotVerified", stranger, sender=alice)
    await chain.refused(token.transfer(alice, 1), "InvestorNotVerified", stranger, sender=stranger)
    await chain.refused(
        token.transfer(bob, 71), "InsufficientUnfrozenBalance", alice, 70, 71, sender=alice
    )

    events = await chain.send(token.approve(spender, 50), alice)
    assert events == [("Approval", {"owner": alice, "spender": spender, "value": 50})]
    events = await chain.send(token.transferFrom(alice, bob, 20), spender)
    assert events == [
        ("Approval", {"owner": alice, "spender": spender, "value": 30}),
        ("Transfer", {"from": alice, "to": bob, "value": 20}),
    ]
    await chain.refused(
        token.transferFrom(alice, bob, 31), "InsufficientAllowance", spender, 30, 31, sender=spender
    )
    assert await token.allowance(alice, spender).call() == 30
    assert await token.balanceOf(alice).call() == 50
    assert await token.balanceOf(bob).call() == 50


async def test_partial_freeze_limits_transfers(chain: Chain) -> None:
    alice, bob = await chain.investor(100), await chain.investor()
    token = chain.token.functions
    events = await chain.send(token.freezePartialTokens(alice, 60))
    assert events == [("TokensFrozen", {"userAddress": alice, "amount": 60})]
    assert await token.getFrozenTokens(alice).call() == 60
    assert await token.unfrozenBalanceOf(alice).call() == 40
    await chain.refused(
        token.transfer(bob, 41), "InsufficientUnfrozenBalance", alice, 40, 41, sender=alice
    )
    await chain.send(token.transfer(bob, 40), alice)
    await chain.refused(
        token.freezePartialTokens(alice, 1), "InsufficientUnfrozenBalance", alice, 0, 1
    )
    events = await chain.send(token.unfreezePartialTokens(alice, 20))
    assert events == [("TokensUnfrozen", {"userAddress": alice, "amount": 20})]
    await chain.refused(
        token.unfreezePartialTokens(alice, 41), "InsufficientFrozenTokens", alice, 40, 41
    )
    await chain.send(token.transfer(bob, 20), alice)
    assert await token.balanceOf(alice).call() == 40
    assert await token.getFrozenTokens(alice).call() == 40


async def test_address_freeze_blocks_both_directions(chain: Chain) -> None:
    alice, bob = await chain.investor(10), await chain.investor(10)
    token = chain.token.functions
    events = await chain.send(token.setAddressFrozen(alice, True))
    assert events == [
        ("AddressFrozen", {"userAddress": alice, "isFrozen": True, "owner": chain.admin})
    ]
    assert await token.isFrozen(alice).call() is True
    await chain.refused(token.transfer(bob, 1), "AddressIsFrozen", alice, sender=alice)
    await chain.refused(token.transfer(alice, 1), "AddressIsFrozen", alice, sender=bob)
    events = await chain.send(token.setAddressFrozen(alice, False))
    assert events == [
        ("AddressFrozen", {"userAddress": alice, "isFrozen": False, "owner": chain.admin})
    ]
    await chain.send(token.transfer(bob, 1), alice)


async def test_forced_transfer_takes_frozen_tokens(chain: Chain) -> None:
    alice, bob, stranger = await chain.investor(100), await chain.investor(), await chain.account()
    token = chain.token.functions
    await chain.send(token.freezePartialTokens(alice, 80))
    await chain.send(token.setAddressFrozen(alice, True))
    events = await chain.send(token.forcedTransfer(alice, bob, 50))
    assert events == [
        ("TokensUnfrozen", {"userAddress": alice, "amount": 30}),
        ("Transfer", {"from": alice, "to": bob, "value": 50}),
    ]
    assert await token.getFrozenTokens(alice).call() == 50
    assert await token.balanceOf(bob).call() == 50
    await chain.refused(token.forcedTransfer(alice, stranger, 1), "InvestorNotVerified", stranger)
    await chain.refused(token.forcedTransfer(alice, bob, 51), "InsufficientBalance", alice, 50, 51)
    await chain.refused(token.forcedTransfer(alice, bob, 1), "NotAgent", bob, sender=bob)


async def test_redeem_burns_and_unfreezes_the_shortfall(chain: Chain) -> None:
    alice = await chain.investor(100)
    token = chain.token.functions
    await chain.send(token.freezePartialTokens(alice, 90))
    supply = await token.totalSupply().call()
    redemption = ref()
    events = await chain.send(token.redeem(alice, 20, 3, redemption))
    assert events == [
        ("TokensUnfrozen", {"userAddress": alice, "amount": 10}),
        ("Transfer", {"from": alice, "to": ZERO, "value": 20}),
        ("Redeemed", {"offeringId": 3, "from": alice, "amount": 20, "ref": redemption}),
    ]
    assert await token.totalSupply().call() == supply - 20
    assert await token.balanceOf(alice).call() == 80
    assert await token.getFrozenTokens(alice).call() == 80
    assert await token.isRedeemedRef(redemption).call() is True
    await chain.refused(token.redeem(alice, 1, 3, redemption), "ReferenceAlreadyUsed", redemption)
    await chain.refused(token.redeem(alice, 81, 3, ref()), "InsufficientBalance", alice, 80, 81)


async def test_pause_blocks_holder_transfers_only(chain: Chain) -> None:
    alice, bob, spender = await chain.investor(10), await chain.investor(), await chain.account()
    token = chain.token.functions
    await chain.send(token.approve(spender, 5), alice)
    events = await chain.send(token.pause())
    try:
        assert events == [("Paused", {"userAddress": chain.admin})]
        assert await token.paused().call() is True
        await chain.refused(token.transfer(bob, 1), "TokenPaused", sender=alice)
        await chain.refused(token.transferFrom(alice, bob, 1), "TokenPaused", sender=spender)
        await chain.refused(token.pause(), "TokenPaused")
        # Agents can still act while holders are stopped.
        await chain.send(token.issue(bob, 1, 0, ref()))
        await chain.send(token.forcedTransfer(alice, bob, 1))
    finally:
        events = await chain.send(token.unpause())
    assert events == [("Unpaused", {"userAddress": chain.admin})]
    await chain.refused(token.unpause(), "TokenNotPaused")
    await chain.send(token.transfer(bob, 1), alice)
    assert await token.balanceOf(bob).call() == 3


# ---- STO ----


async def create_offering(
    chain: Chain,
    *,
    price: int = 1_000,
    soft: int = 50_000,
    hard: int = 100_000,
    opens_in: int = -10,
    closes_in: int = 3_600,
) -> int:
    """Create an offering on the Issuance token; return its id."""
    now = await chain.now()
    events = await chain.send(
        chain.sto.functions.createOffering(
            chain.token.address, EUR, price, soft, hard, now + opens_in, now + closes_in
        )
    )
    ((name, args),) = events
    assert name == "OfferingCreated"
    assert args == {
        "offeringId": args["offeringId"],
        "token": chain.token.address,
        "currency": EUR,
        "unitPrice": price,
        "softCap": soft,
        "hardCap": hard,
        "opensAt": now + opens_in,
        "closesAt": now + closes_in,
    }
    return int(args["offeringId"])


async def test_offering_invest_close_and_matching_issuance(chain: Chain) -> None:
    alice, bob, stranger = await chain.investor(), await chain.investor(), await chain.account()
    sto = chain.sto.functions
    offering = await create_offering(chain)
    assert await sto.offeringCount().call() == offering
    first = ref()
    events = await chain.send(sto.invest(offering, alice, 30_000, 30, first))
    assert events == [
        (
            "InvestmentReceived",
            {
                "offeringId": offering,
                "investor": alice,
                "amount": 30_000,
                "units": 30,
                "investmentRef": first,
            },
        )
    ]
    await chain.send(sto.invest(offering, bob, 60_000, 60, ref()))
    await chain.refused(
        sto.invest(offering, alice, 11_000, 11, ref()), "HardCapExceeded", offering, 10_000, 11_000
    )
    await chain.refused(
        sto.invest(offering, alice, 9_999, 10, ref()), "AmountMismatch", 10_000, 9_999
    )
    await chain.refused(sto.invest(offering, alice, 0, 0, ref()), "ZeroUnits")
    await chain.refused(
        sto.invest(offering, stranger, 1_000, 1, ref()), "InvestorNotVerified", stranger
    )
    await chain.refused(sto.invest(offering, alice, 1_000, 1, first), "ReferenceAlreadyUsed", first)
    await chain.refused(
        sto.invest(offering, alice, 1_000, 1, ref()), "NotAgent", alice, sender=alice
    )
    await chain.refused(
        sto.invest(offering + 1000, alice, 1_000, 1, ref()), "UnknownOffering", offering + 1000
    )
    # Exactly up to the hard cap is fine.
    await chain.send(sto.invest(offering, alice, 10_000, 10, ref()))

    events = await chain.send(sto.closeOffering(offering))
    assert events == [
        ("OfferingClosed", {"offeringId": offering, "totalRaised": 100_000, "totalUnits": 100})
    ]
    state = await sto.getOffering(offering).call()
    assert (state[2], state[8], state[9]) == (2, 100_000, 100)
    await chain.refused(
        sto.invest(offering, alice, 1_000, 1, ref()), "OfferingNotOpen", offering, 2
    )
    await chain.refused(sto.refund(offering, alice, 30_000, first), "RefundNotAllowed", offering, 2)
    await chain.refused(sto.cancelOffering(offering), "OfferingNotOpen", offering, 2)

    # The tokens are issued under the investment's reference: that is the match.
    events = await chain.send(chain.token.functions.issue(alice, 30, offering, first))
    assert events[1] == (
        "Issued",
        {
            "offeringId": offering,
            "to": alice,
            "amount": 30,
            "investmentRef": first,
        },
    )


async def test_offering_creation_is_validated(chain: Chain) -> None:
    sto = chain.sto.functions
    now = await chain.now()
    token, outsider = chain.token.address, await chain.account()
    await chain.refused(
        sto.createOffering(token, EUR, 1, 10, 5, now, now + 10), "InvalidCaps", 10, 5
    )
    await chain.refused(
        sto.createOffering(token, EUR, 1, 0, 5, now - 20, now - 10),
        "InvalidWindow",
        now - 20,
        now - 10,
    )
    await chain.refused(sto.createOffering(token, EUR, 0, 0, 5, now, now + 10), "InvalidPrice")
    await chain.refused(
        sto.createOffering(token, b"\0\0\0", 1, 0, 5, now, now + 10), "InvalidCurrency"
    )
    await chain.refused(
        sto.createOffering(outsider, EUR, 1, 0, 5, now, now + 10), "NotAContract", outsider
    )
    await chain.refused(
        sto.createOffering(token, EUR, 1, 0, 5, now, now + 10),
        "NotOwner",
        outsider,
        sender=outsider,
    )


async def test_soft_cap_blocks_close(chain: Chain) -> None:
    alice = await chain.investor()
    offering = await create_offering(chain)
    await chain.send(chain.sto.functions.invest(offering, alice, 10_000, 10, ref()))
    await chain.refused(
        chain.sto.functions.closeOffering(offering), "SoftCapNotReached", offering, 10_000, 50_000
    )


async def test_invest_only_inside_the_window(chain: Chain) -> None:
    alice = await chain.investor()
    sto = chain.sto.functions
    offering = await create_offering(chain, opens_in=1_000, closes_in=2_000)
    state = await sto.getOffering(offering).call()
    opens_at, closes_at = state[3], state[4]
    await chain.refused(sto.invest(offering, alice, 1_000, 1, ref()), "OutsideWindow")
    await chain.advance(1_200)
    await chain.send(sto.invest(offering, alice, 1_000, 1, ref()))
    await chain.advance(1_000)
    with pytest.raises(ContractCustomError) as info:
        await sto.invest(offering, alice, 1_000, 1, ref()).transact({"from": chain.admin})
    data = bytes.fromhex(str(info.value.data).removeprefix("0x"))
    assert chain.errors[data[:4]][0] == "OutsideWindow"
    off_id, timestamp, opened, closed = chain.error_args(chain.errors[data[:4]][1], data[4:])
    assert (off_id, opened, closed) == (offering, opens_at, closes_at)
    assert timestamp >= closes_at


async def test_cancel_and_refund(chain: Chain) -> None:
    alice, bob = await chain.investor(), await chain.investor()
    sto = chain.sto.functions
    offering = await create_offering(chain)
    ref_a, ref_b = ref(), ref()
    await chain.send(sto.invest(offering, alice, 10_000, 10, ref_a))
    await chain.send(sto.invest(offering, bob, 20_000, 20, ref_b))
    # A refund while open gives the room back under the cap.
    events = await chain.send(sto.refund(offering, alice, 10_000, ref_a))
    assert events == [
        (
            "InvestmentRefunded",
            {
                "offeringId": offering,
                "investor": alice,
                "amount": 10_000,
                "units": 10,
                "investmentRef": ref_a,
            },
        )
    ]
    state = await sto.getOffering(offering).call()
    assert (state[8], state[9]) == (20_000, 20)

    events = await chain.send(sto.cancelOffering(offering))
    assert events == [
        ("OfferingCancelled", {"offeringId": offering, "totalRaised": 20_000, "totalUnits": 20})
    ]
    await chain.refused(
        sto.invest(offering, alice, 1_000, 1, ref()), "OfferingNotOpen", offering, 3
    )
    await chain.refused(sto.closeOffering(offering), "OfferingNotOpen", offering, 3)
    await chain.refused(sto.refund(offering, bob, 19_000, ref_b), "AmountMismatch", 20_000, 19_000)
    await chain.refused(sto.refund(offering, alice, 20_000, ref_b), "InvestmentMismatch", ref_b)
    await chain.refused(sto.refund(offering, alice, 10_000, ref_a), "AlreadyRefunded", ref_a)
    unknown = ref()
    await chain.refused(sto.refund(offering, alice, 1, unknown), "UnknownInvestment", unknown)
    events = await chain.send(sto.refund(offering, bob, 20_000, ref_b))
    assert events[0][1]["units"] == 20
    investment = await sto.getInvestment(ref_b).call()
    assert investment[1:] == (bob, True, 20_000, 20)
    state = await sto.getOffering(offering).call()
    assert (state[2], state[8], state[9]) == (3, 0, 0)


# ---- DerivativesReporter ----


async def test_trade_report_life_cycle(chain: Chain) -> None:
    uti = ref()
    a, b = lei("529900T8BM49AURSDO55"), lei("5493001KJTIIGC8Y1R12")
    report = chain.reporter.functions.report
    events = await chain.send(report(uti, "IRS EUR 5Y", 1_000_000, EUR, a, b, NEW))
    assert events == [
        (
            "TradeReported",
            {
                "uti": uti,
                "action": NEW,
                "reporter": chain.admin,
                "version": 1,
                "product": "IRS EUR 5Y",
                "notional": 1_000_000,
                "currency": EUR,
                "counterpartyA": a,
                "counterpartyB": b,
            },
        )
    ]
    events = await chain.send(report(uti, "IRS EUR 5Y", 750_000, b"USD", a, b, MODIFY))
    assert events[0][1] | {} == {
        "uti": uti,
        "action": MODIFY,
        "reporter": chain.admin,
        "version": 2,
        "product": "IRS EUR 5Y",
        "notional": 750_000,
        "currency": b"USD",
        "counterpartyA": a,
        "counterpartyB": b,
    }
    # A cancel repeats the last reported terms, whatever it is given.
    events = await chain.send(report(uti, "", 0, b"\0\0\0", b"\0" * 32, b"\0" * 32, CANCEL))
    assert events == [
        (
            "TradeReported",
            {
                "uti": uti,
                "action": CANCEL,
                "reporter": chain.admin,
                "version": 3,
                "product": "IRS EUR 5Y",
                "notional": 750_000,
                "currency": b"USD",
                "counterpartyA": a,
                "counterpartyB": b,
            },
        )
    ]
    trade = await chain.reporter.functions.getTrade(uti).call()
    assert trade[:2] == (2, 3)
    await chain.refused(report(uti, "IRS", 1, EUR, a, b, MODIFY), "TradeCancelled", uti)
    await chain.refused(report(uti, "IRS", 1, EUR, a, b, CANCEL), "TradeCancelled", uti)
    await chain.refused(report(uti, "IRS", 1, EUR, a, b, NEW), "UtiAlreadyReported", uti)


async def test_trade_report_validation(chain: Chain) -> None:
    uti, other = ref(), ref()
    a, b, c = lei("A" * 20), lei("B" * 20), lei("C" * 20)
    report = chain.reporter.functions.report
    await chain.refused(report(uti, "FX", 1, EUR, a, b, MODIFY), "UnknownUti", uti)
    await chain.refused(report(uti, "FX", 1, EUR, a, b, CANCEL), "UnknownUti", uti)
    await chain.refused(report(uti, "FX", 1, EUR, a, b, 0), "InvalidAction", 0)
    await chain.refused(report(uti, "FX", 1, EUR, a, b, 4), "InvalidAction", 4)
    await chain.refused(report(b"\0" * 32, "FX", 1, EUR, a, b, NEW), "EmptyUti")
    await chain.refused(report(uti, "", 1, EUR, a, b, NEW), "EmptyProduct")
    await chain.refused(report(uti, "FX", 0, EUR, a, b, NEW), "ZeroNotional")
    await chain.refused(report(uti, "FX", 1, b"\0\0\0", a, b, NEW), "InvalidCurrency")
    await chain.refused(report(uti, "FX", 1, EUR, a, a, NEW), "InvalidCounterparties")
    await chain.refused(report(uti, "FX", 1, EUR, a, b"\0" * 32, NEW), "InvalidCounterparties")
    outsider = await chain.account()
    await chain.refused(report(uti, "FX", 1, EUR, a, b, NEW), "NotAgent", outsider, sender=outsider)
    await chain.send(report(uti, "FX", 1, EUR, a, b, NEW))
    await chain.refused(report(uti, "FX", 2, EUR, a, c, MODIFY), "CounterpartiesChanged", uti)
    await chain.refused(report(uti, "FX", 0, EUR, a, b, MODIFY), "ZeroNotional")
    await chain.refused(chain.reporter.functions.getTrade(other), "UnknownUti", other)


# ---- EuroclearBridge ----


async def register(chain: Chain) -> bytes:
    """Register a fresh ISIN for the Issuance token on the bridge."""
    code = isin()
    events = await chain.send(chain.bridge.functions.registerInstrument(code, chain.token.address))
    assert events == [("InstrumentRegistered", {"isin": code, "token": chain.token.address})]
    return code


async def test_bridge_lock_settle_and_release(chain: Chain) -> None:
    code = await register(chain)
    alice = await chain.investor(100)
    bridge, token = chain.bridge.functions, chain.token.functions
    account = lei("EC-12345")
    await chain.send(token.approve(chain.bridge.address, 60), alice)
    lock_ref = ref()
    events = await chain.send(bridge.lock(code, 60, account, lock_ref), alice)
    assert events == [
        ("TransferStatusChanged", {"ref": lock_ref, "oldStatus": 0, "newStatus": PENDING}),
        (
            "TokensLocked",
            {
                "ref": lock_ref,
                "isin": code,
                "holder": alice,
                "token": chain.token.address,
                "amount": 60,
                "euroclearAccount": account,
            },
        ),
        ("Approval", {"owner": alice, "spender": chain.bridge.address, "value": 0}),
        ("Transfer", {"from": alice, "to": chain.bridge.address, "value": 60}),
    ]
    assert await bridge.getTransfer(lock_ref).call() == (1, PENDING, code, alice, 60, account)
    events = await chain.send(bridge.setStatus(lock_ref, INSTRUCTED))
    assert events == [
        ("TransferStatusChanged", {"ref": lock_ref, "oldStatus": PENDING, "newStatus": INSTRUCTED})
    ]
    assert await bridge.inCustody(code).call() == 0
    events = await chain.send(bridge.setStatus(lock_ref, SETTLED))
    assert events == [
        ("TransferStatusChanged", {"ref": lock_ref, "oldStatus": INSTRUCTED, "newStatus": SETTLED})
    ]
    assert await bridge.inCustody(code).call() == 60
    for final in (INSTRUCTED, FAILED, CANCELLED):
        await chain.refused(
            bridge.setStatus(lock_ref, final), "InvalidTransition", lock_ref, SETTLED, final
        )

    await chain.refused(
        bridge.release(code, alice, 61, account, ref()), "InsufficientCustody", code, 60, 61
    )
    release_ref = ref()
    events = await chain.send(bridge.release(code, alice, 25, account, release_ref))
    assert events == [
        ("TransferStatusChanged", {"ref": release_ref, "oldStatus": 0, "newStatus": PENDING}),
        (
            "TokensReleased",
            {
                "ref": release_ref,
                "isin": code,
                "holder": alice,
                "token": chain.token.address,
                "amount": 25,
                "euroclearAccount": account,
            },
        ),
    ]
    assert await bridge.pendingRelease(code).call() == 25
    await chain.refused(
        bridge.release(code, alice, 36, account, ref()), "InsufficientCustody", code, 35, 36
    )
    await chain.refused(
        bridge.setStatus(release_ref, SETTLED), "InvalidTransition", release_ref, PENDING, SETTLED
    )
    await chain.send(bridge.setStatus(release_ref, INSTRUCTED))
    assert await token.balanceOf(alice).call() == 40
    events = await chain.send(bridge.setStatus(release_ref, SETTLED))
    assert events == [
        (
            "TransferStatusChanged",
            {"ref": release_ref, "oldStatus": INSTRUCTED, "newStatus": SETTLED},
        ),
        ("Transfer", {"from": chain.bridge.address, "to": alice, "value": 25}),
    ]
    assert await token.balanceOf(alice).call() == 65
    assert await bridge.inCustody(code).call() == 35
    assert await bridge.pendingRelease(code).call() == 0


async def test_bridge_failed_and_cancelled_transfers(chain: Chain) -> None:
    code = await register(chain)
    alice = await chain.investor(100)
    bridge, token = chain.bridge.functions, chain.token.functions
    account = lei("EC-777")
    await chain.send(token.approve(chain.bridge.address, 2**256 - 1), alice)

    failed = ref()
    await chain.send(bridge.lock(code, 40, account, failed), alice)
    assert await token.balanceOf(alice).call() == 60
    events = await chain.send(bridge.setStatus(failed, FAILED))
    assert events == [
        ("TransferStatusChanged", {"ref": failed, "oldStatus": PENDING, "newStatus": FAILED}),
        ("Transfer", {"from": chain.bridge.address, "to": alice, "value": 40}),
    ]
    assert await token.balanceOf(alice).call() == 100

    cancelled = ref()
    await chain.send(bridge.lock(code, 30, account, cancelled), alice)
    await chain.send(bridge.setStatus(cancelled, INSTRUCTED))
    events = await chain.send(bridge.setStatus(cancelled, CANCELLED))
    assert events[1] == ("Transfer", {"from": chain.bridge.address, "to": alice, "value": 30})
    assert await bridge.inCustody(code).call() == 0

    settled = ref()
    await chain.send(bridge.lock(code, 50, account, settled), alice)
    await chain.send(bridge.setStatus(settled, INSTRUCTED))
    await chain.send(bridge.setStatus(settled, SETTLED))
    dropped = ref()
    await chain.send(bridge.release(code, alice, 50, account, dropped))
    events = await chain.send(bridge.setStatus(dropped, CANCELLED))
    assert events == [
        ("TransferStatusChanged", {"ref": dropped, "oldStatus": PENDING, "newStatus": CANCELLED})
    ]
    assert await bridge.pendingRelease(code).call() == 0
    assert await bridge.inCustody(code).call() == 50
    assert await token.balanceOf(alice).call() == 50


async def test_bridge_refusals(chain: Chain) -> None:
    code = await register(chain)
    alice, outsider = await chain.investor(10), await chain.account()
    bridge = chain.bridge.functions
    account = lei("EC-1")
    unknown_isin, unknown_ref = isin(), ref()
    await chain.refused(
        bridge.registerInstrument(code, chain.token.address), "InstrumentAlreadyRegistered", code
    )
    await chain.refused(bridge.registerInstrument(isin(), outsider), "NotAContract", outsider)
    await chain.refused(
        bridge.lock(unknown_isin, 1, account, ref()),
        "UnknownInstrument",
        unknown_isin,
        sender=alice,
    )
    await chain.refused(bridge.lock(code, 0, account, ref()), "ZeroAmount", sender=alice)
    await chain.refused(bridge.lock(code, 1, b"\0" * 32, ref()), "EmptyAccount", sender=alice)
    await chain.refused(bridge.lock(code, 1, account, b"\0" * 32), "EmptyReference", sender=alice)
    # The token's own refusal comes through: no approval for the bridge.
    await chain.refused(
        bridge.lock(code, 1, account, ref()),
        "InsufficientAllowance",
        chain.bridge.address,
        0,
        1,
        sender=alice,
    )
    await chain.send(chain.token.functions.approve(chain.bridge.address, 10), alice)
    used = ref()
    await chain.send(bridge.lock(code, 1, account, used), alice)
    await chain.refused(
        bridge.lock(code, 1, account, used), "ReferenceAlreadyUsed", used, sender=alice
    )
    await chain.refused(bridge.setStatus(unknown_ref, INSTRUCTED), "UnknownReference", unknown_ref)
    for bad in (0, PENDING, 6):
        await chain.refused(bridge.setStatus(used, bad), "InvalidTransition", used, PENDING, bad)
    await chain.refused(bridge.setStatus(used, INSTRUCTED), "NotAgent", alice, sender=alice)
    await chain.refused(
        bridge.release(code, alice, 1, account, ref()), "NotAgent", alice, sender=alice
    )
    await chain.refused(bridge.release(code, ZERO, 1, account, ref()), "ZeroAddress")

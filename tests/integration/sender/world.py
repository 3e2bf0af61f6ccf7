"""A real anvil with the contracts, an agent key for the sender, and paid orders in PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from web3 import Web3

from dpo.chain.artifacts import load_artifact
from dpo.db.models import Investment, Investor, InvestorWallet, Issuer, Offering
from dpo.sender.calls import Contracts
from dpo.sender.chain import Chain
from dpo.sender.intents import enqueue_issuance
from dpo.sender.policy import FeeCaps
from dpo.sender.rpc import Rpc, RpcCallError, RpcUnavailableError
from dpo.sender.tend import Config
from dpo.sender.worker import Worker

OWNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil account 0 (deployer)
# anvil account 1: the platform wallet in these tests, an agent of both contracts.
SENDER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SENDER = Account.from_key(SENDER_KEY).address
UNIT_PRICE_CENTS = 1000  # 10.00 EUR
GWEI = 10**9


def rpc(url: str, method: str, *params: Any) -> Any:
    """One JSON-RPC call; raises on an error object."""
    answer = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
    ).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def transact(url: str, to: str, data: str) -> None:
    """A transaction from the deployer (anvil signs for its unlocked accounts), mined."""
    tx_hash = rpc(url, "eth_sendTransaction", {"from": OWNER, "to": to, "data": data})
    for _ in range(200):
        receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            assert receipt["status"] == "0x1", receipt
            return
        time.sleep(0.05)
    raise AssertionError("setup transaction not mined")


@dataclass
class World:
    """The chain side of a test: URL, contracts, the on-chain offering and verified investors."""

    url: str
    addresses: dict[str, str]
    offering_id: int = 1
    investors: list[str] = field(default_factory=list)

    @property
    def sto(self) -> str:
        return self.addresses["STO_CONTRACT_ADDRESS"]

    @property
    def issuance(self) -> str:
        return self.addresses["ISSUANCE_CONTRACT_ADDRESS"]


def prepare_chain(
    url: str, addresses: dict[str, str], *, investors: int = 1, hard_cap_cents: int = 10**15
) -> World:
    """Make SENDER an agent, open offering 1 on the Issuance token, verify the investors."""
    w3 = Web3()
    sto = w3.eth.contract(abi=load_artifact("STO").abi)
    token = w3.eth.contract(abi=load_artifact("Issuance").abi)
    world = World(url, addresses)
    transact(url, world.sto, sto.encode_abi("addAgent", [SENDER]))
    transact(url, world.issuance, token.encode_abi("addAgent", [SENDER]))
    now = int(rpc(url, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    transact(
        url,
        world.sto,
        sto.encode_abi(
            "createOffering",
            [
                Web3.to_checksum_address(world.issuance),
                b"EUR",
                UNIT_PRICE_CENTS,
                0,
                hard_cap_cents,
                1,
                now + 30 * 86400,
            ],
        ),
    )
    for _ in range(investors):
        address = Account.create().address
        transact(url, world.issuance, token.encode_abi("verifyInvestor", [address]))
        world.investors.append(address)
    return world


async def seed(
    sessions: async_sessionmaker[AsyncSession],
    world: World,
    count: int,
    *,
    units: int = 3,
    wallet: str | None = None,
) -> list[int]:
    """An offering linked to on-chain offering 1, an investor, `count` paid orders with their
    intents enqueued (one transaction, as the paid transition does)."""
    address = (wallet or world.investors[0]).lower()
    async with sessions() as session, session.begin():
        offering = await session.scalar(
            select(Offering).where(Offering.onchain_offering_id == world.offering_id)
        )
        if offering is None:
            offering = Offering(
                issuer=Issuer(name="Acme AG", country="CH"),
                name="Acme A",
                symbol="ACME",
                security_type="equity",
                regulation="reg_s",
                currency="EUR",
                unit_price=Decimal("10"),
                status="open",
                onchain_offering_id=world.offering_id,
                token_address=world.issuance.lower(),
            )
            session.add(offering)
        investor_id = await session.scalar(
            select(InvestorWallet.investor_id).where(InvestorWallet.address == address)
        )
        if investor_id is None:
            investor = Investor(full_name="Ada", country="GB")
            session.add(investor)
            await session.flush()
            investor_id = investor.id
            session.add(
                InvestorWallet(
                    investor_id=investor_id,
                    chain_id=31337,
                    address=address,
                    verified_at=datetime.now(UTC),
                )
            )
        await session.flush()
        ids = []
        for _ in range(count):
            investment = Investment(
                investor_id=investor_id,
                offering_id=offering.id,
                amount=Decimal(10 * units),
                currency="EUR",
                units=units,
                state="paid",
                payment_reference=f"PAY-{uuid.uuid4().hex[:16]}",
            )
            session.add(investment)
            await session.flush()
            await enqueue_issuance(session, investment)
            ids.append(investment.id)
    return ids


class Clock:
    """Wall time plus whatever the test adds (replacement and resend timers)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def make_worker(
    sessions: async_sessionmaker[AsyncSession],
    world: World,
    rpc_url: str,
    *,
    clock: Callable[[], float] = time.time,
    timeout: float = 10.0,
    **overrides: Any,
) -> Worker:
    """A worker signing with SENDER through `rpc_url`."""
    settings: dict[str, Any] = {
        "max_in_flight": 64,
        "replace_after": 60.0,
        "resend_after": 15.0,
        "nonce_taken_after": 5.0,
        "caps": FeeCaps(max_fee=500 * GWEI, tip=5 * GWEI),
        "gas_headroom_percent": 20,
        "confirmations": 0,
    }
    settings.update(overrides)
    contracts = Contracts(sto=world.sto, issuance=world.issuance)
    chain = Chain(Rpc([rpc_url], timeout=timeout, attempts=4, backoff=0.05), contracts, SENDER)
    return Worker(
        sessions=sessions,
        chain=chain,
        account=Account.from_key(SENDER_KEY),
        chain_id=31337,
        config=Config(**settings),
        clock=clock,
    )


async def drive(
    worker: Worker,
    done: Callable[[], Any],
    *,
    passes: int = 400,
    between: Callable[[], Any] | None = None,
) -> int:
    """Run passes (RPC failures retried, as the service does) until `await done()` is true."""
    failures = 0
    for _ in range(passes):
        try:
            await worker.run_pass()
        except (RpcUnavailableError, RpcCallError):
            failures += 1
        if between is not None:
            between()
        if await done():
            return failures
        await asyncio.sleep(0.05)
    raise AssertionError("the sender did not finish in time")


def issued_refs(url: str, issuance: str) -> Counter[str]:
    """How many Issued events each investmentRef has on chain."""
    topic = "0x" + Web3.keccak(text="Issued(uint256,address,uint256,bytes32)").hex().removeprefix(
        "0x"
    )
    logs = rpc(
        url,
        "eth_getLogs",
        {"fromBlock": "0x0", "toBlock": "latest", "address": issuance, "topics": [topic]},
    )
    return Counter("0x" + log["data"][-64:] for log in logs)


def recorded_refs(url: str, sto: str) -> Counter[str]:
    """How many InvestmentReceived events each investmentRef has on chain."""
    topic = "0x" + Web3.keccak(
        text="InvestmentReceived(uint256,address,uint256,uint256,bytes32)"
    ).hex().removeprefix("0x")
    logs = rpc(
        url,
        "eth_getLogs",
        {"fromBlock": "0x0", "toBlock": "latest", "address": sto, "topics": [topic]},
    )
    return Counter("0x" + log["data"][-64:] for log in logs)


def chain_nonce(url: str, tag: str = "latest") -> int:
    """The sender's transaction count."""
    return int(rpc(url, "eth_getTransactionCount", SENDER, tag), 16)


def folder(base: Path) -> Path:
    """A fresh folder for one anvil."""
    return base / f"anvil-sender-{uuid.uuid4().hex[:8]}"

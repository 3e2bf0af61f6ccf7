"""A history made through the contracts on anvil, decoded, ingested, projected and reverted."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.db.session import create_engine, session_factory
from listener.decode import DecodedLog, Decoder
from listener.store import Batch, BlockHeader, ingest_batch, revert_to
from tests.integration.chain.test_contracts import Chain

pytestmark = pytest.mark.needs_chain

MAX = 2**256 - 1
ISIN = "DE000A1B2C35"
UTI = "UTI-DPO-TEST-000001"
NEW, MODIFY, CANCEL = 1, 2, 3


def ref() -> bytes:
    return os.urandom(32)


def padded(value: str, size: int = 32) -> bytes:
    return value.encode().ljust(size, b"\0")


@dataclass
class History:
    """What the scenario did on chain, and its logs and headers."""

    chain_id: int
    token: str
    bridge: str
    alice: str
    bob: str
    refs: dict[str, str]
    txs: dict[str, str]
    mid_block: int = 0
    last_block: int = 0
    first_block: int = 0
    logs: list[DecodedLog] = field(default_factory=list)
    headers: dict[int, BlockHeader] = field(default_factory=dict)
    skipped: int = 0

    def batch(self, first: int, last: int) -> Batch:
        return Batch(
            self.chain_id,
            first,
            last,
            [self.headers[n] for n in range(first, last + 1)],
            [log for log in self.logs if first <= log.block_number <= last],
        )


async def rpc(w3: AsyncWeb3[AsyncHTTPProvider], method: str, params: list[Any]) -> Any:
    response = await w3.provider.make_request(method, params)
    return response["result"]


@pytest.fixture(scope="module")
async def history(w3: AsyncWeb3[AsyncHTTPProvider], deployed: dict[str, str]) -> History:
    chain = Chain(w3, deployed)
    token, sto, reporter, bridge = (
        chain.token.functions,
        chain.sto.functions,
        chain.reporter.functions,
        chain.bridge.functions,
    )
    alice, bob = await chain.investor(), await chain.investor()
    refs = {name: "0x" + ref().hex() for name in ("alice", "bob", "lock", "jpy", "bad", "redeem")}
    raw = {name: bytes.fromhex(value[2:]) for name, value in refs.items()}
    txs: dict[str, str] = {}

    async def send(name: str, fn: Any, sender: str | None = None) -> None:
        tx_hash = await fn.transact({"from": sender or chain.admin})
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        txs[name] = "0x" + bytes(tx_hash).hex()

    now = await chain.now()
    await send(
        "create", sto.createOffering(chain.token.address, b"EUR", 1000, 0, 10**9, now, now + 10**6)
    )
    first_block = await w3.eth.get_block_number()
    await send("invest_alice", sto.invest(1, alice, 3000, 3, raw["alice"]))
    await send("invest_bob", sto.invest(1, bob, 5000, 5, raw["bob"]))
    await send("refund_bob", sto.refund(1, bob, 5000, raw["bob"]))
    await send("issue_alice", token.issue(alice, 3, 1, raw["alice"]))
    mid_block = await w3.eth.get_block_number()
    await send("freeze", token.freezePartialTokens(alice, 2))
    await send("unfreeze", token.unfreezePartialTokens(alice, 1))
    await send("transfer", token.transfer(bob, 1), alice)
    await send("approve", token.approve(chain.bridge.address, MAX), alice)
    await send("register", bridge.registerInstrument(ISIN.encode(), chain.token.address))
    await send("lock", bridge.lock(ISIN.encode(), 1, padded("EC-ACCOUNT-1"), raw["lock"]), alice)
    await send("instruct", bridge.setStatus(raw["lock"], 2))
    await send("settle", bridge.setStatus(raw["lock"], 3))
    await send("close", sto.closeOffering(1))
    await send(
        "create2", sto.createOffering(chain.token.address, b"JPY", 5, 0, 100, now, now + 10**6)
    )
    await send("invest_jpy", sto.invest(2, bob, 50, 10, raw["jpy"]))
    await send("cancel2", sto.cancelOffering(2))
    for action, notional in ((NEW, 1_000_000), (MODIFY, 2_000_000), (CANCEL, 1)):
        await send(
            f"report{action}",
            reporter.report(
                padded(UTI),
                "IRS",
                notional,
                b"EUR",
                padded("529900T8BM49AURSDO55"),
                padded("5493001KJTIIGC8Y1R12"),
                action,
            ),
        )
    # An instrument code that is not a valid ISIN (check digit position holds a letter).
    await send("register_bad", bridge.registerInstrument(b"XS12345678AB", chain.token.address))
    await send("approve_bob", token.approve(chain.bridge.address, 1), bob)
    await send("lock_bad", bridge.lock(b"XS12345678AB", 1, padded("EC-ACCOUNT-2"), raw["bad"]), bob)
    await send("freeze_bob", token.setAddressFrozen(bob, True))
    # Redeeming Alice's last, frozen token unfreezes it first (TokensUnfrozen, then Transfer).
    await send("redeem", token.redeem(alice, 1, 1, raw["redeem"]))
    last_block = await w3.eth.get_block_number()

    addresses = list(deployed.values())
    contracts = {deployed[var]: name for var, name in CONTRACT_ARTIFACTS.items()}
    decoder = Decoder(await w3.eth.chain_id, contracts)
    raw_logs = await rpc(
        w3, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(last_block), "address": addresses}]
    )
    history = History(
        decoder.chain_id,
        chain.token.address,
        chain.bridge.address,
        alice,
        bob,
        refs,
        txs,
        mid_block,
        last_block,
        first_block,
    )
    history.logs = decoder.decode_all(raw_logs)
    history.skipped = decoder.skipped
    for number in range(0, last_block + 1):
        block = await rpc(w3, "eth_getBlockByNumber", [hex(number), False])
        history.headers[number] = BlockHeader(
            number, block["hash"], block["parentHash"], int(block["timestamp"], 16)
        )
    return history


@pytest.fixture
async def sessions(
    migrated_database: str, history: History
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated_database, pool_size=2)
    factory = session_factory(engine)
    async with factory() as session, session.begin():
        await session.execute(text("INSERT INTO issuers (id, name) VALUES (1, 'Issuer')"))
        await session.execute(
            text(
                "INSERT INTO investors (id, full_name, country) "
                "VALUES (1, 'A', 'DE'), (2, 'B', 'FR')"
            )
        )
        await session.execute(
            text(
                "INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, "
                "regulation, currency, unit_price, token_address, onchain_offering_id, status) "
                "VALUES "
                "(1, 1, :isin, 'Bond', 'BND', 'debt', 'reg_s', 'EUR', 10, :t, 1, 'open'),"
                "(2, 1, 'JP0000000001', 'Yen', 'YEN', 'debt', 'reg_s', 'JPY', 5, NULL, 2, 'open')"
            ),
            {"isin": ISIN, "t": history.token},
        )
        await session.execute(
            text(
                "INSERT INTO investments (id, investor_id, offering_id, amount, currency, units, "
                "payment_reference, onchain_reference) VALUES "
                "(1, 1, 1, 30, 'EUR', 3, 'PAY-1', :a), (2, 2, 1, 50, 'EUR', 5, 'PAY-2', :b)"
            ),
            {"a": history.refs["alice"], "b": history.refs["bob"]},
        )
    yield factory
    await engine.dispose()


TABLES = {
    "offerings": "SELECT id, status, amount_raised, units_sold, token_address FROM offerings",
    "investments": "SELECT id, state, tx_hash, paid_at, issued_at FROM investments",
    "positions": "SELECT holder_address, offering_id, location, quantity, frozen_quantity "
    "FROM positions",
    "derivative_reports": "SELECT uti, action, version, product, notional, currency, "
    "counterparty_a, counterparty_b, reported_at FROM derivative_reports",
    "bridge_transfers": "SELECT direction, isin, amount, holder_address, euroclear_account, "
    "reference, status, tx_hash, settled_at FROM bridge_transfers",
}


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    async with sessions() as session:
        return {
            name: sorted((tuple(r) for r in (await session.execute(text(sql))).all()), key=str)
            for name, sql in TABLES.items()
        }


def events_named(history: History, name: str) -> list[DecodedLog]:
    return [log for log in history.logs if log.event_name == name]


async def test_every_event_of_the_scenario_decodes_with_exact_values(history: History) -> None:
    names = {log.event_name for log in history.logs}
    assert {
        "OfferingCreated",
        "InvestmentReceived",
        "InvestmentRefunded",
        "OfferingClosed",
        "OfferingCancelled",
        "Transfer",
        "Issued",
        "TokensFrozen",
        "TokensUnfrozen",
        "Approval",
        "AddressFrozen",
        "InstrumentRegistered",
        "TokensLocked",
        "TransferStatusChanged",
        "TradeReported",
        "InvestorVerified",
        "AgentAdded",
        "Redeemed",
        "OwnershipTransferred",
    } <= names
    assert history.skipped == 0
    approval = events_named(history, "Approval")[0]
    assert approval.args == {"owner": history.alice, "spender": history.bridge, "value": str(MAX)}
    received = events_named(history, "InvestmentReceived")[0]
    assert received.args == {
        "offeringId": "1",
        "investor": history.alice,
        "amount": "3000",
        "units": "3",
        "investmentRef": history.refs["alice"],
    }
    assert received.tx_hash == history.txs["invest_alice"]
    created = events_named(history, "OfferingCreated")[1]
    assert (created.args["offeringId"], created.args["currency_text"]) == ("2", "JPY")
    report = events_named(history, "TradeReported")[2]
    assert report.args["uti_text"] == UTI
    assert (report.args["action"], report.args["version"], report.args["notional"]) == (
        "3",
        "3",
        "2000000",
    )
    assert report.args["counterpartyA_text"] == "529900T8BM49AURSDO55"
    locked = events_named(history, "TokensLocked")[0]
    assert (locked.args["isin_text"], locked.args["euroclearAccount_text"]) == (
        ISIN,
        "EC-ACCOUNT-1",
    )
    frozen = events_named(history, "AddressFrozen")[0]
    assert frozen.args["isFrozen"] is True
    keys = [(log.block_number, log.log_index) for log in history.logs]
    assert keys == sorted(keys)
    assert all(log.block_hash == history.headers[log.block_number].hash for log in history.logs)


async def test_projections_of_the_scenario(
    sessions: async_sessionmaker[AsyncSession], history: History
) -> None:
    result = await ingest_batch(sessions, history.batch(0, history.last_block), reorg_window=500)
    assert result.inserted == len(history.logs)
    # The JPY investment has no investment row, but its offering is ours; the lock under an
    # invalid ISIN cannot become a bridge transfer.
    assert result.projections.skipped == 1
    tables = await snapshot(sessions)
    assert sorted(tables["offerings"]) == [
        (1, "closed", Decimal("30.000000000000000000"), 3, history.token),
        # JPY has no minor unit: 50 on chain is 50 yen.
        (2, "cancelled", Decimal("50.000000000000000000"), 10, None),
    ]
    investments = {row[0]: row[1:3] for row in tables["investments"]}
    assert investments == {
        1: ("issued", history.txs["invest_alice"]),
        2: ("refunded", history.txs["invest_bob"]),
    }
    assert all(row[3] is not None for row in tables["investments"])
    assert [row[4] is not None for row in sorted(tables["investments"])] == [True, False]
    assert sorted(tables["positions"]) == sorted(
        [
            (history.alice, 1, "onchain", 0, 0),
            (history.bob, 1, "onchain", 0, 0),
            (history.bridge, 1, "onchain", 2, 0),
        ]
    )
    reports = sorted(tables["derivative_reports"], key=lambda r: r[2])
    assert [(r[0], r[1], r[2], r[4]) for r in reports] == [
        (UTI, "new", 1, Decimal("10000.000000000000000000")),
        (UTI, "modify", 2, Decimal("20000.000000000000000000")),
        (UTI, "cancel", 3, Decimal("20000.000000000000000000")),
    ]
    assert reports[0][5:8] == ("EUR", "529900T8BM49AURSDO55", "5493001KJTIIGC8Y1R12")
    [bridge] = tables["bridge_transfers"]
    assert bridge[:8] == (
        "lock",
        ISIN,
        1,
        history.alice,
        "EC-ACCOUNT-1",
        history.refs["lock"],
        "settled",
        history.txs["lock"],
    )
    assert bridge[8] is not None


async def test_revert_restores_every_projection_and_replay_gives_the_same_state(
    sessions: async_sessionmaker[AsyncSession], history: History
) -> None:
    start = await snapshot(sessions)
    await ingest_batch(sessions, history.batch(0, history.mid_block), reorg_window=500)
    middle = await snapshot(sessions)
    assert middle != start
    await ingest_batch(
        sessions, history.batch(history.mid_block + 1, history.last_block), reorg_window=500
    )
    full = await snapshot(sessions)
    reverted = await revert_to(
        sessions, chain_id=history.chain_id, ancestor_number=history.mid_block
    )
    assert reverted.removed == sum(
        1 for log in history.logs if log.block_number > history.mid_block
    )
    assert await snapshot(sessions) == middle
    await ingest_batch(
        sessions, history.batch(history.mid_block + 1, history.last_block), reorg_window=500
    )
    assert await snapshot(sessions) == full
    await revert_to(sessions, chain_id=history.chain_id, ancestor_number=history.first_block - 1)
    assert await snapshot(sessions) == start


async def test_the_investor_is_told_of_issued_tokens_once_whatever_is_replayed(
    sessions: async_sessionmaker[AsyncSession], history: History
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE investors SET email = 'alice@example.com' WHERE id = 1"))

    async def messages() -> list[tuple[Any, ...]]:
        async with sessions() as session:
            return [
                tuple(r)
                for r in (
                    await session.execute(
                        text(
                            "SELECT key, event, email, fields->>'units', fields->>'reference' "
                            "FROM notifications ORDER BY id"
                        )
                    )
                ).all()
            ]

    await ingest_batch(sessions, history.batch(0, history.last_block), reorg_window=500)
    once = [
        ("tokens_issued:inv:1", "tokens_issued", "alice@example.com", "3", "PAY-1"),
        # The STO closes the offering too: Alice, with an order it kept, hears of it.
        ("offering_closed:1:investor:1", "offering_closed", "alice@example.com", None, None),
    ]
    assert await messages() == once  # bob has no e-mail, and his order was refunded
    await revert_to(sessions, chain_id=history.chain_id, ancestor_number=history.first_block - 1)
    await ingest_batch(sessions, history.batch(0, history.last_block), reorg_window=500)
    assert await messages() == once

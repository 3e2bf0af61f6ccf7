"""The bench's chain: events emitted through the deployed contracts, and the offering they feed.

`emit` sends batched `eth_sendTransaction`s with automine off and one `evm_mine` per block
(issue -> Transfer + Issued, every tenth transaction a TradeReported with a string); `seed`
adds the offering of the deployed token so that positions are projected, and with
`investments` a paid order per issue, as the platform has, so that every Issued event moves
its order to issued and queues the investor's message. Used by bench/ingest.py and
bench/chaos.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from sqlalchemy import insert, text

from dpo.db.models import Issuer, Offering
from dpo.db.session import create_engine

DEV_ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
INVESTORS = 50
OFFERINGS = 20
LEI_A = b"5493001KJTIIGC8Y1R12".ljust(32, b"\0")
LEI_B = b"529900T8BM49AURSDO55".ljust(32, b"\0")
GAS = hex(400_000)
GAS_PRICE = hex(20 * 10**9)


def selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


ISSUE = selector("issue(address,uint256,uint256,bytes32)")
VERIFY = selector("verifyInvestor(address)")
REPORT = selector("report(bytes32,string,uint256,bytes3,bytes32,bytes32,uint8)")


def word(value: int) -> str:
    return f"{value:064x}"


def investor(n: int) -> str:
    return "0x" + f"{0xBE000 + n:040x}"


class Chain:
    """JSON-RPC to anvil with batched requests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=120)
        self.ids = 0

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        return (await self.batch([(method, params or [])]))[0]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = []
        for method, params in calls:
            self.ids += 1
            body.append({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        answers = (await self.http.post(self.url, json=body)).json()
        by_id = {a["id"]: a for a in answers}
        out = []
        for request in body:
            answer = by_id[request["id"]]
            if "error" in answer:
                raise RuntimeError(f"{request['method']}: {answer['error']}")
            out.append(answer["result"])
        return out


def tx(to: str, data: str, nonce: int) -> tuple[str, list[Any]]:
    return (
        "eth_sendTransaction",
        [
            {
                "from": DEV_ADDRESS,
                "to": to,
                "data": data,
                "gas": GAS,
                "gasPrice": GAS_PRICE,
                "nonce": hex(nonce),
            }
        ],
    )


async def emit(
    url: str,
    addresses: dict[str, str],
    events: int,
    per_block: int,
    empty_blocks: int = 0,
    start: int = 0,
) -> int:
    """Emit at least `events` events, `per_block` transactions per mined block; return blocks.

    `empty_blocks` empty blocks come before each block of events (a sparse chain). Calls
    after the first pass a `start` above the transactions sent before (references are unique).
    """
    chain = Chain(url)
    issuance = addresses["ISSUANCE_CONTRACT_ADDRESS"].lower()
    reporter = addresses["DERIVATIVES_REPORTER_CONTRACT_ADDRESS"].lower()
    nonce = int(await chain.call("eth_getTransactionCount", [DEV_ADDRESS, "pending"]), 16)
    await chain.call("evm_setAutomine", [False])
    setup = []
    for n in range(INVESTORS):
        setup.append(tx(issuance, "0x" + VERIFY + word(int(investor(n), 16)), nonce))
        nonce += 1
    await chain.batch(setup)
    await chain.call("evm_mine")
    emitted, blocks, sent = 0, 1, start
    while emitted < events:
        calls: list[tuple[str, list[Any]]] = []
        while len(calls) < per_block and emitted < events:
            if sent % 10 == 9:
                data = (
                    "0x"
                    + REPORT
                    + encode(
                        ["bytes32", "string", "uint256", "bytes3", "bytes32", "bytes32", "uint8"],
                        [
                            f"UTI{sent:020d}".encode().ljust(32, b"\0"),
                            "IRS-EUR-10Y",
                            10**6 + sent,
                            b"EUR",
                            LEI_A,
                            LEI_B,
                            1,
                        ],
                    ).hex()
                )
                calls.append(tx(reporter, data, nonce))
                emitted += 1
            else:
                data = (
                    "0x"
                    + ISSUE
                    + word(int(investor(sent % INVESTORS), 16))
                    + word(100 + sent % 7)
                    + word(1 + sent % OFFERINGS)
                    + word(sent + 1)
                )
                calls.append(tx(issuance, data, nonce))
                emitted += 2
            nonce += 1
            sent += 1
        if empty_blocks:
            await chain.call("anvil_mine", [hex(empty_blocks)])
            blocks += empty_blocks
        await chain.batch(calls)
        await chain.call("evm_mine")
        blocks += 1
    last = await chain.call("eth_getBlockByNumber", ["latest", False])
    receipt = await chain.call("eth_getTransactionReceipt", [last["transactions"][-1]])
    if receipt["status"] != "0x1":
        raise RuntimeError("the last emitted transaction reverted")
    await chain.http.aclose()
    return blocks


def issues(events: int) -> int:
    """Transactions `emit` sends for `events` events (an upper bound)."""
    return events // 19 * 10 + 10


# The paid orders whose investmentRef `emit`'s issue of transaction n carries (n + 1).
INVESTMENTS = """
INSERT INTO investors (id, full_name, email, country)
SELECT n, 'Investor ' || n, 'investor' || n || '@example.com', 'DE'
FROM generate_series(1, :investors) AS n;
INSERT INTO investments (investor_id, offering_id, amount, currency, units, state,
    payment_reference, onchain_reference, paid_at)
SELECT 1 + n % :investors, 1, 1000, 'EUR', 100 + n % 7, 'paid', 'bench-' || n,
    '0x' || lpad(to_hex(n + 1), 64, '0'), TIMESTAMPTZ '2026-01-01 00:00:00+00'
FROM generate_series(0, :sent - 1) AS n WHERE n % 10 <> 9 AND n % :every = 0;
"""


async def seed(database_url: str, token: str, investments: int = 0, every: int = 1) -> None:
    """One offering of the deployed token, so that positions are projected.

    `investments` > 0: the paid orders of the issues among the first `investments`
    transactions, of every `every`-th one.
    """
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(insert(Issuer), [{"id": 1, "name": "Issuer", "country": "DE"}])
        await connection.execute(
            insert(Offering),
            [
                {
                    "id": 1,
                    "issuer_id": 1,
                    "isin": "US0378331005",
                    "name": "Bench offering",
                    "symbol": "BNCH",
                    "security_type": "equity",
                    "regulation": "reg_s",
                    "currency": "EUR",
                    "unit_price": Decimal("10"),
                    "status": "open",
                    "opens_at": now - timedelta(days=1),
                    "closes_at": now + timedelta(days=30),
                    "allowed_countries": [],
                    "token_address": token,
                    "onchain_offering_id": 1,
                }
            ],
        )
        if investments:
            for statement in INVESTMENTS.split(";")[:-1]:
                await connection.execute(
                    text(statement),
                    {"investors": INVESTORS, "sent": investments, "every": every},
                )
    await engine.dispose()

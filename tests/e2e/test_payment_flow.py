"""From payment to tokens, every piece real: anvil with the contracts, the BillBitts sandbox,
`dpo web`, `dpo listener` and `dpo sender` as processes, and the investor's WebSocket.

submitInvestment → BillBitts payment request → the investor pays on the hosted page → the
signed webhook (sent 3 times, the first attempt of each forged) → paid + chain intents → the
sender records the order and issues the tokens → the listener sees InvestmentReceived and
Issued → the investor's `positionChanged` subscription shows the tokens and the order is
`issued`, with one issuance on chain and one message of each kind in the outbox.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.auth.principal import Kind, Principal
from dpo.db.models import Investor, InvestorWallet, Issuer, Offering
from sandbox.server import Sandbox
from schema.relay import to_global_id
from tests.e2e.conftest import web_server
from tests.e2e.http_seed import new_isin
from tests.e2e.test_listener_process import listener_env
from tests.e2e.test_listener_process import start as start_listener
from tests.e2e.test_listener_process import stop as stop_process
from tests.e2e.test_sender_process import sender_env
from tests.e2e.test_sender_process import start as start_sender
from tests.e2e.test_subscriptions import bearer, server_env
from tests.e2e.webhook_world import WEBHOOK_SECRET
from tests.integration.sender.conftest import anvil, sender_db, sessions, world
from tests.integration.sender.world import World, issued_refs, recorded_refs, rpc
from tests.integration.streaming.wsclient import open_socket

pytestmark = pytest.mark.needs_chain
__all__ = ["anvil", "sender_db", "sessions", "world"]

SUBMIT = """mutation($input: SubmitInvestmentInput!) { submitInvestment(input: $input) {
  id state paymentReference paymentUrl } }"""
ORDER = "query($id: ID!) { node(id: $id) { ... on Investment { state txHash issuedAt } } }"
POSITIONS = "subscription($h: Address!) { positionChanged(holder: $h) { holder quantity } }"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "billbitts.pem"
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def sandbox(key_path: Path) -> Iterator[Sandbox]:
    server = Sandbox().start()
    server.world.billbitts.use_public_key(key_path.read_bytes())
    yield server
    server.stop()


async def seed_platform(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> tuple[Principal, str, int]:
    """The offering linked to on-chain offering 1, an approved investor with a verified wallet."""
    address = world.investors[0].lower()
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        offering = Offering(
            issuer=Issuer(name="Acme AG", country="CH"),
            isin=new_isin(),
            name="Acme 2030",
            symbol="ACME",
            security_type="equity",
            regulation="reg_s",
            currency="EUR",
            unit_price=Decimal(10),
            min_ticket=Decimal(10),
            hard_cap=Decimal(10**6),
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=20),
            status="open",
            allowed_countries=[],
            onchain_offering_id=world.offering_id,
            token_address=world.issuance.lower(),
        )
        investor = Investor(
            full_name="Ada",
            country="DE",
            kyc_status="approved",
            email=f"ada{secrets.token_hex(3)}@example.com",
        )
        session.add_all([offering, investor])
        await session.flush()
        session.add(
            InvestorWallet(
                investor_id=investor.id, address=address, chain_id=31337, verified_at=now
            )
        )
        principal = Principal(
            kind=Kind.WALLET, role="investor", investor_id=investor.id, address=address
        )
        return principal, address, offering.id


async def until(check: Callable[[], Awaitable[Any]], what: str, seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def processes(world: World, sender_db: str, redis_url: str) -> AsyncIterator[None]:
    """`dpo listener` and `dpo sender` on the test's chain and database."""
    listener = start_listener(listener_env(sender_db, redis_url, world.url, world.addresses))
    sender = start_sender(sender_env(world, sender_db, redis_url, world.url))
    try:
        yield
    finally:
        for process in (sender, listener):
            code, output = await stop_process(process)
            assert code == 0, output


async def test_submit_pay_issue_and_the_subscriber_sees_the_tokens(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    sender_db: str,
    redis_url: str,
    sandbox: Sandbox,
    key_path: Path,
    tmp_path: Path,
) -> None:
    principal, address, offering_id = await seed_platform(sessions, world)
    env = server_env(
        sender_db,
        redis_url,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        BILLBITTS_API_URL=sandbox.environment()["BILLBITTS_API_URL"],
        BILLBITTS_API_KEY=sandbox.world.keys["BILLBITTS_API_KEY"],
        BILLBITTS_PRIVATE_KEY_PATH=str(key_path),
        RESPONSE_CACHE_MAX_AGE="1",
    )
    with web_server(env, log_path=tmp_path / "web.log") as base:
        sandbox.world.billbitts.plant(
            {
                "webhook": {
                    "url": f"{base}/webhooks/billbitts",
                    "secrets": [WEBHOOK_SECRET],
                    "retry_wait": 0.2,
                }
            }
        )
        sandbox.world.billbitts.webhooks.faults.set({"duplicates": 3, "bad_signature": 1})
        headers = bearer(principal)
        async with (
            processes(world, sender_db, redis_url),
            open_socket(base) as sock,
            httpx.AsyncClient(base_url=base, timeout=60) as client,
        ):
            ack = await sock.init(headers)
            assert ack["type"] == "connection_ack", ack
            await sock.subscribe("p", POSITIONS, h=address)
            assert await sock.data("p") == {"positionChanged": []}

            answer = await client.post(
                "/graphql",
                headers=headers,
                json={
                    "query": SUBMIT,
                    "variables": {
                        "input": {
                            "offeringId": to_global_id("Offering", offering_id),
                            "amount": "100",
                            "currency": "EUR",
                        }
                    },
                },
            )
            order = answer.json()["data"]["submitInvestment"]
            assert order["state"] == "PENDING_PAYMENT"
            assert order["paymentUrl"], answer.text
            assert (await client.post(order["paymentUrl"])).status_code == 200  # pays

            async def tokens() -> bool:
                frame = await asyncio.wait_for(sock.data("p"), 180)
                return [p["quantity"] for p in frame["positionChanged"]] == ["10"]

            await until(tokens, "the tokens on the investor's subscription")

            async def issued() -> dict[str, Any] | None:
                found = (
                    await client.post(
                        "/graphql",
                        headers=headers,
                        json={"query": ORDER, "variables": {"id": order["id"]}},
                    )
                ).json()
                node: dict[str, Any] = found["data"]["node"]
                return node if node["state"] == "ISSUED" else None

            node = await until(issued, "the order issued")

            # The listener's Issued made the order issued; the sender's intents are final
            # only once their blocks are SENDER_CONFIRMATIONS (12) deep. The listener can see
            # the issue's block before the sender has read its receipt: until then that
            # intent is still `in_flight`, on its way to `mined`, never anywhere else.
            async def confirmed() -> bool:
                async with sessions() as session:
                    states = set(
                        (await session.scalars(text("SELECT state FROM chain_intents"))).all()
                    )
                if states == {"succeeded"}:
                    return True
                assert states <= {"in_flight", "mined", "succeeded"}, states
                rpc(world.url, "evm_mine")
                return False

            await until(confirmed, "the intents confirmed")
    assert node["txHash"]
    assert node["issuedAt"]
    async with sessions() as session:
        row = (
            await session.execute(
                text("SELECT id, onchain_reference FROM investments WHERE payment_reference = :r"),
                {"r": order["paymentReference"]},
            )
        ).one()
        intents = (
            await session.execute(
                text("SELECT kind, state FROM chain_intents WHERE investment_id = :i ORDER BY id"),
                {"i": row.id},
            )
        ).all()
        deliveries = await session.scalar(
            text(
                "SELECT count(*) FROM webhook_deliveries WHERE payload->'data'->>'reference' = :r"
            ),
            {"r": order["paymentReference"]},
        )
        messages = (
            await session.scalars(
                text("SELECT event FROM notifications WHERE key LIKE :k ORDER BY event"),
                {"k": f"%:inv:{row.id}"},
            )
        ).all()
    assert [tuple(i) for i in intents] == [("invest", "succeeded"), ("issue", "succeeded")]
    assert issued_refs(world.url, world.issuance)[row.onchain_reference] == 1
    assert recorded_refs(world.url, world.sto)[row.onchain_reference] == 1
    assert deliveries == 1
    assert list(messages) == ["investment_received", "payment_confirmed", "tokens_issued"]
    statuses = [d["status"] for d in sandbox.world.billbitts.webhooks.log]
    assert 401 in statuses  # the forged first attempts
    assert statuses.count(200) >= 1

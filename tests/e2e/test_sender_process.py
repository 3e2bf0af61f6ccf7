"""`dpo sender` as a real process: kill -9 between sending and recording, restart, one
issuance; one active sender per account; no secret in its output or its /metrics."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.embedded.process import free_port
from tests.e2e.conftest import ROOT, base_env
from tests.integration.sender.conftest import anvil, sender_db, sessions, world
from tests.integration.sender.test_sender import intents, references
from tests.integration.sender.test_sender_faults import assert_once, versions
from tests.integration.sender.world import SENDER_KEY, World, recorded_refs, rpc, seed
from tests.support.faulty_proxy import FaultyProxy
from tests.support.processes import Logged, python_app

__all__ = ["anvil", "sender_db", "sessions", "world"]

TOKEN = "tok-" + "9f3c" * 8  # an API token in the provider URL's path


def sender_env(
    world: World, database_url: str, redis_url: str, rpc_url: str, **extra: str
) -> dict[str, str]:
    """The sender's environment: the runbook's names and SENDER_* knobs."""
    return base_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        QUICKNODE_URL=rpc_url,
        BLOCKCHAIN_NETWORK="anvil",
        WALLET_PRIVATE_KEY=SENDER_KEY,
        LOG_LEVEL="DEBUG",
        STO_CONTRACT_ADDRESS=world.sto,
        ISSUANCE_CONTRACT_ADDRESS=world.issuance,
        SENDER_POLL_INTERVAL="0.1",
        **extra,
    )


def start(env: dict[str, str]) -> Logged:
    """`python -m app sender` from a folder without .env, its output in a file."""
    return python_app("sender", env=env)


async def wait_for(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 120
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def assert_no_secret(text: str) -> None:
    assert SENDER_KEY[2:].lower() not in text.lower()
    assert TOKEN not in text


async def test_kill_9_between_sending_and_recording_then_restart_issues_once(
    world: World, sessions: async_sessionmaker[AsyncSession], sender_db: str, redis_url: str
) -> None:
    await seed(sessions, world, 3)
    async with FaultyProxy(world.url, hang_seconds=300) as proxy:
        # The first broadcast reaches anvil (mined at once) and its answer never comes back.
        proxy.set_plan(["swallow"], method="eth_sendRawTransaction")
        url = f"{proxy.url}{TOKEN}/"
        crashed = start(sender_env(world, sender_db, redis_url, url, RPC_TIMEOUT="300"))
        try:

            async def on_chain() -> bool:
                return len(recorded_refs(world.url, world.sto)) == 1

            await wait_for(on_chain, "the first order on chain")
            first = (await intents(sessions))[0]
            assert first.state == "in_flight"
            assert first.sends == 0  # on chain, and the broadcast not recorded
            crashed.kill()
        finally:
            crashed.kill()
            first_output = crashed.finish(30)[1]
        (sent,) = [v for v in await versions(sessions) if v.intent_id == first.id]

        metrics_port = free_port()
        restarted = start(
            sender_env(world, sender_db, redis_url, url, SENDER_METRICS_PORT=str(metrics_port))
        )
        try:

            async def finished() -> bool:
                rpc(world.url, "evm_mine")  # blocks on top: SENDER_CONFIRMATIONS (12) deep
                return all(i.state == "succeeded" for i in await intents(sessions))

            await wait_for(finished, "every intent to succeed")
            async with httpx.AsyncClient(timeout=10) as client:
                metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            restarted.send_signal(signal.SIGTERM)
            second_output = restarted.finish(60)[1]
        finally:
            restarted.kill()
    assert restarted.returncode == 0, second_output
    await assert_once(sessions, world)
    invest = (await intents(sessions))[0]
    assert invest.tx_hash == sent.tx_hash  # the same signed bytes, broadcast again
    assert len(await references(sessions)) == 3
    assert "dpo_sender_sends_total" in metrics
    assert "dpo_sender_nonce_gap 0.0" in metrics
    for text in (first_output, second_output, metrics):
        assert_no_secret(text)
    assert "sender stopped" in second_output


async def test_one_active_sender_per_account(
    world: World, sessions: async_sessionmaker[AsyncSession], sender_db: str, redis_url: str
) -> None:
    env = sender_env(world, sender_db, redis_url, world.url)
    active = start(env)
    standby: Logged | None = None
    try:
        await seed(sessions, world, 1)

        async def finished() -> bool:
            rpc(world.url, "evm_mine")
            rows = await intents(sessions)
            return bool(rows) and all(i.state == "succeeded" for i in rows)

        await wait_for(finished, "the first order")
        standby = start(env)

        async def standing_by() -> bool:  # it waits on the active sender's lock
            assert standby is not None
            assert standby.poll() is None, standby.describe()
            return "standing by" in standby.output()

        await wait_for(standing_by, "the second sender to stand by")
        assert active.poll() is None
        active.kill()  # kill -9: its lock goes with its connection
        await seed(sessions, world, 1)
        await wait_for(finished, "the standby to take over")
        standby.send_signal(signal.SIGTERM)
        output = standby.finish(60)[1]
    finally:
        active.kill()
        if standby is not None:
            standby.kill()
    assert "standing by" in output
    assert standby.returncode == 0
    await assert_once(sessions, world)


async def test_a_revert_is_surfaced_on_every_web_replica(
    world: World, sessions: async_sessionmaker[AsyncSession], sender_db: str, redis_url: str
) -> None:
    from tests.e2e.conftest import web_server
    from tests.integration.sender.test_sender import all_final
    from tests.integration.sender.world import drive, make_worker

    await seed(sessions, world, 1, wallet="0x" + "5a" * 20)  # not verified on the token
    await drive(make_worker(sessions, world, world.url), all_final(sessions))
    env = base_env(DATABASE_URL=sender_db, REDIS_URL=redis_url, WALLET_PRIVATE_KEY=SENDER_KEY)
    with web_server(env) as base:
        async with httpx.AsyncClient(timeout=30) as client:
            health = (await client.get(f"{base}/api/health/")).json()
            metrics = (await client.get(f"{base}/metrics")).text
    sender = health["sender"]
    assert sender["status"] == "attention"
    assert sender["intents"] == {"reverted": 1, "failed": 1}
    reverted = [item for item in sender["needs_ops"] if item["state"] == "reverted"]
    assert reverted[0]["kind"] == "invest"
    assert reverted[0]["reason"].startswith("InvestorNotVerified(investor=")
    assert health["status"] == "ok"  # the web service itself is fine
    assert 'dpo_sender_intents{state="reverted"} 1.0' in metrics
    assert 'dpo_sender_intents{state="failed"} 1.0' in metrics
    assert 'dpo_sender_intents{state="succeeded"} 0.0' in metrics
    assert_no_secret(str(health) + metrics)


async def test_intents_waiting_for_confirmations_are_shown_as_mined(
    world: World, sessions: async_sessionmaker[AsyncSession], sender_db: str, redis_url: str
) -> None:
    from tests.e2e.conftest import web_server
    from tests.integration.sender.world import drive, make_worker

    await seed(sessions, world, 1)

    async def both_mined() -> bool:
        return [i.state for i in await intents(sessions)] == ["mined", "mined"]

    await drive(make_worker(sessions, world, world.url, confirmations=12), both_mined)
    env = base_env(DATABASE_URL=sender_db, REDIS_URL=redis_url, WALLET_PRIVATE_KEY=SENDER_KEY)
    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", "sender", "status"],
        env=env,
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == ["mined: 2"]
    with web_server(env) as base:
        async with httpx.AsyncClient(timeout=30) as client:
            health = (await client.get(f"{base}/api/health/")).json()
            metrics = (await client.get(f"{base}/metrics")).text
    sender = health["sender"]
    assert sender["status"] == "ok"  # waiting for confirmations needs nobody
    assert sender["intents"] == {"mined": 2}
    assert sender["needs_ops"] == []
    assert isinstance(sender["oldest_open_seconds"], float)
    assert sender["oldest_open_seconds"] >= 0
    assert 'dpo_sender_intents{state="mined"} 2.0' in metrics
    assert 'dpo_sender_intents{state="succeeded"} 0.0' in metrics

"""`dpo listener` as a real process against anvil, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.db.migrate import upgrade_async
from dpo.db.session import create_engine, session_factory
from dpo.embedded.process import free_port
from listener import store
from tests.conftest import _create_database, _drop_database
from tests.e2e.conftest import base_env, run_dpo, web_server
from tests.integration.chain.conftest import deployed, w3
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import (
    ANVIL_CHAIN_ID,
    Sessions,
    feed,
    head,
    history,
    state,
    with_offering,
)
from tests.support.processes import Logged, python_app

pytestmark = pytest.mark.needs_chain

__all__ = ["deployed", "w3"]


@pytest.fixture(scope="module")
async def chain(w3: AsyncWeb3[AsyncHTTPProvider], deployed: dict[str, str]) -> Chain:
    """The module's deployed contracts."""
    return Chain(w3, deployed)


@pytest.fixture
async def databases(
    pg_server_url: str,
) -> AsyncIterator[Callable[[], Awaitable[tuple[str, Sessions]]]]:
    """Make migrated databases with the Issuance offering; dropped after the test."""
    made: list[tuple[str, Any]] = []

    async def make() -> tuple[str, Sessions]:
        url = await _create_database(pg_server_url)
        await upgrade_async(url)
        engine = create_engine(url, pool_size=2)
        made.append((url, engine))
        return url, session_factory(engine)

    yield make
    for url, engine in made:
        await engine.dispose()
        await _drop_database(pg_server_url, url)


def listener_env(
    database_url: str, redis_url: str, anvil_url: str, deployed: dict[str, str], **extra: str
) -> dict[str, str]:
    """The listener's environment: the runbook's names only."""
    values = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BLOCKCHAIN_RPC_URL": anvil_url,
        "BLOCKCHAIN_NETWORK": "anvil",
        "START_BLOCK_NUMBER": "0",
        "LISTENER_POLL_INTERVAL": "0.1",
        **deployed,
    }
    values.update(extra)
    return base_env(**values)


def start(env: dict[str, str], *args: str) -> Logged:
    """`python -m app listener ARGS` from a folder without .env, its output in a file."""
    return python_app("listener", *args, env=env)


async def reach(
    process: Logged, sessions: Sessions, number: int, hash_: str, within: float = 90
) -> None:
    """Wait until the process committed block `number` with `hash_`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while await store.checkpoint(sessions, ANVIL_CHAIN_ID) != (number, hash_):
        if process.poll() is not None:
            raise AssertionError(f"the listener exited: {process.describe()}")
        assert loop.time() < deadline, f"the listener never reached the head: {process.describe()}"
        await asyncio.sleep(0.1)


def web_health(database_url: str, redis_url: str) -> tuple[dict[str, Any], str]:
    """/api/health/ and /metrics of a `dpo web` process on the database."""
    with web_server(base_env(DATABASE_URL=database_url, REDIS_URL=redis_url)) as base:
        body: dict[str, Any] = httpx.get(base + "/api/health/").json()
        metrics = httpx.get(base + "/metrics").text
    return body, metrics


async def stop(process: Logged) -> tuple[int, str]:
    """SIGTERM, then wait (without blocking the loop) for the exit code and output."""
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.finish, 30)


async def test_the_listener_process_follows_the_chain_and_stops_on_sigterm(
    anvil_url: str,
    redis_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[tuple[str, Sessions]]],
) -> None:
    url, sessions = await databases()
    await with_offering(sessions, deployed)
    port = free_port()
    process = start(
        listener_env(url, redis_url, anvil_url, deployed, LISTENER_METRICS_PORT=str(port))
    )
    try:
        number, hash_ = await head(chain.w3)
        await reach(process, sessions, number, hash_)
        # Live events while it runs.
        holder = await chain.investor()
        await chain.send(chain.token.functions.issue(holder, 5, 0, ref()))
        number, hash_ = await head(chain.w3)
        await reach(process, sessions, number, hash_)
        # Its own metrics, the refusals of lagging answers among them.
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'dpo_rpc_inconsistent_total{reason="missing_logs"} 0.0' in metrics
        assert f"dpo_listener_processed_block {number}.0" in metrics
    finally:
        code, output = await stop(process)
    assert code == 0, output
    assert "listener stopped" in output
    items = await feed(sessions)
    assert [i[0] for i in items] == list(range(1, len(items) + 1))
    assert any(e[5] == "Issued" for e in (await state(sessions))["events"])


async def test_sigterm_and_kill_9_mid_backfill_then_restart_equal_an_uninterrupted_run(
    anvil_url: str,
    redis_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[tuple[str, Sessions]]],
) -> None:
    await history(chain, 30)
    number, hash_ = await head(chain.w3)
    small = {"LISTENER_BATCH_BLOCKS": "2", "LISTENER_MAX_BATCH_BLOCKS": "2"}

    url, sessions = await databases()
    await with_offering(sessions, deployed)
    env = listener_env(url, redis_url, anvil_url, deployed, **small)
    # Interrupted twice mid-backfill: first politely (SIGTERM), then brutally (kill -9).
    for kill_at, brutal in ((number // 3, False), (2 * number // 3, True)):
        process = start(env)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while ((await store.checkpoint(sessions, ANVIL_CHAIN_ID)) or (-1, ""))[0] < kill_at:
            assert process.poll() is None, process.describe()
            assert loop.time() < deadline, f"the listener never got that far: {process.describe()}"
            await asyncio.sleep(0.01)
        if brutal:
            process.kill()
            process.wait(10)
        else:
            code, output = await stop(process)
            assert code == 0, output
    assert ((await store.checkpoint(sessions, ANVIL_CHAIN_ID)) or (-1, ""))[0] < number
    process = start(env)
    try:
        await reach(process, sessions, number, hash_)
    finally:
        code, output = await stop(process)
    assert code == 0, output

    clean_url, clean = await databases()
    await with_offering(clean, deployed)
    process = start(listener_env(clean_url, redis_url, anvil_url, deployed, **small))
    try:
        await reach(process, clean, number, hash_)
    finally:
        await stop(process)
    assert await state(sessions) == await state(clean)
    assert await feed(sessions) == await feed(clean)


def test_the_listener_refuses_to_start_without_an_rpc_url(deployed: dict[str, str]) -> None:
    result = run_dpo("listener", env=base_env(BLOCKCHAIN_NETWORK="anvil", **deployed))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BLOCKCHAIN_RPC_URL" in lines[0]


# One bad value through the process (exit 2, one line); every refused value, this one among
# them, is checked in-process by tests/unit/test_settings.py, without a start-up each.
@pytest.mark.parametrize("value", ["ten thousand"])
def test_the_listener_refuses_a_bad_budget_of_logs_in_flight(
    anvil_url: str, deployed: dict[str, str], value: str
) -> None:
    env = base_env(
        BLOCKCHAIN_NETWORK="anvil",
        BLOCKCHAIN_RPC_URL=anvil_url,
        LISTENER_MAX_LOGS_IN_FLIGHT=value,
        **deployed,
    )
    result = run_dpo("listener", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: LISTENER_MAX_LOGS_IN_FLIGHT: "), lines[0]


def test_the_listener_refuses_the_wrong_chain(
    anvil_url: str, deployed: dict[str, str], migrated_url: str, redis_url: str
) -> None:
    env = listener_env(
        migrated_url, redis_url, anvil_url, deployed, BLOCKCHAIN_NETWORK="arbitrum-nova"
    )
    result = run_dpo("listener", env=env)
    assert result.returncode == 2
    assert "42170" in result.stderr
    assert "31337" in result.stderr


async def test_a_deep_reorg_stops_the_process_loudly_and_rewind_recovers(
    anvil_url: str,
    redis_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[tuple[str, Sessions]]],
) -> None:
    holder = await chain.investor(tokens=10)
    for _ in range(5):
        await chain.send(chain.token.functions.issue(holder, 1, 0, ref()))
    url, sessions = await databases()
    await with_offering(sessions, deployed)
    env = listener_env(url, redis_url, anvil_url, deployed, LISTENER_REORG_WINDOW="2")
    process = start(env)
    try:
        number, hash_ = await head(chain.w3)
        await reach(process, sessions, number, hash_)
        before = await feed(sessions)
        response = await chain.w3.provider.make_request("anvil_reorg", [5, []])
        assert "error" not in response, response
        _, output = await asyncio.to_thread(process.finish, 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 1, output
    assert f"dpo listener --rewind {number - 5}" in output
    assert await feed(sessions) == before
    # Where operators look: /api/health/ of any web replica says so, with the way out.
    health, metrics = await asyncio.to_thread(web_health, url, redis_url)
    assert f'dpo_listener_halted{{chain_id="{ANVIL_CHAIN_ID}"}} 1.0' in metrics
    assert health["status"] == "degraded"
    assert health["listener"]["status"] == "halted"
    (halted,) = health["listener"]["chains"]
    assert f"--rewind {number - 5}" in halted["halted_reason"]

    rewound = start(env, "--rewind", str(number - 5))
    try:
        number, hash_ = await head(chain.w3)
        await reach(rewound, sessions, number, hash_)
    finally:
        code, output = await stop(rewound)
    assert code == 0, output
    health, metrics = await asyncio.to_thread(web_health, url, redis_url)
    assert f'dpo_listener_halted{{chain_id="{ANVIL_CHAIN_ID}"}} 0.0' in metrics
    assert health["status"] == "ok"
    assert health["listener"]["status"] == "ok"
    assert "halted_at" not in health["listener"]["chains"][0]
    live = (await state(sessions))["events"]
    assert not any(e[0] > number - 5 for e in live)  # the replaced blocks are empty

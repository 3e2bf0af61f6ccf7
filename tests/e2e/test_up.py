"""`dpo up` (what `make run` calls): the whole stack up, healthy, and gone after Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from dpo.chain.local import recorded_contracts
from dpo.embedded.process import free_port
from sandbox.demo import HOLDERS, SHORT
from sandbox.demo import ISIN as DEMO_ISIN
from tests.e2e.conftest import base_env, wait_http
from tests.support.processes import python_app

# Two whole `dpo up` runs, the first waiting for a reconciliation after the CSD sync.
pytestmark = pytest.mark.timeout(480)
# Clearstream's statement lacks SHORT units of the third holder's: CSD minus chain.
EXPECTED_BREAKS = [
    (
        DEMO_ISIN,
        HOLDERS[2].wallet.lower(),
        "quantity_mismatch",
        HOLDERS[2].units,
        HOLDERS[2].units,
        HOLDERS[2].units - SHORT,
        -SHORT,
    )
]


def _leftovers(folder: Path) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with_args = " ".join(process.info["cmdline"] or [])
        if str(folder) in with_args:
            found.append(with_args)
    return found


async def _jobs_ran(pg_port: int, seconds: float = 60) -> set[str]:
    """The jobs with a succeeded run, once all three have one (or after `seconds`)."""
    ran: set[str] = set()
    for _ in range(int(seconds / 0.5)):
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            connection = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
            )
            try:
                ran = {
                    row["job"]
                    for row in await connection.fetch(
                        "SELECT DISTINCT job FROM job_runs WHERE status = 'succeeded'"
                    )
                }
            finally:
                await connection.close()
        if len(ran) == 3:
            break
        await asyncio.sleep(0.5)
    return ran


async def _demo_book(pg_port: int, seconds: float = 150) -> dict[str, object]:
    """The open breaks and the demo ISIN's prices, once the one deliberate break is all that
    is open (the first pass may run before the listener projected the issuance)."""
    found: dict[str, object] = {}
    for _ in range(int(seconds / 0.5)):
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            connection = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
            )
            try:
                found = {
                    "breaks": [
                        tuple(row)
                        for row in await connection.fetch(
                            "SELECT isin, holder, kind, ledger_qty, chain_qty, csd_qty, difference "
                            "FROM reconciliation_breaks WHERE status = 'open' ORDER BY id"
                        )
                    ],
                    "prices": await connection.fetchval(
                        "SELECT count(*) FROM instrument_prices WHERE isin = $1", DEMO_ISIN
                    ),
                    "positions": await connection.fetchval(
                        "SELECT count(*) FROM positions WHERE location = 'onchain'"
                    ),
                }
            finally:
                await connection.close()
            if found["breaks"] == EXPECTED_BREAKS and found["prices"]:
                break
        await asyncio.sleep(0.5)
    return found


def _up_once(folder: Path, ports: dict[str, str], web_port: int) -> dict[str, object]:
    env = base_env(DPO_DATA_DIR=str(folder), **ports)
    process = python_app("up", "--demo", "--port", str(web_port), env=env)
    try:
        health = wait_http(f"http://127.0.0.1:{web_port}/api/health/", timeout=90, process=process)
        graphiql = httpx.get(
            f"http://127.0.0.1:{web_port}/graphql", headers={"Accept": "text/html"}, timeout=5
        )
        rpc = f"http://127.0.0.1:{ports['DPO_ANVIL_PORT']}"
        chain = httpx.post(
            rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        )
        jobs = asyncio.run(_jobs_ran(int(ports["DPO_PG_PORT"])))
        book = asyncio.run(_demo_book(int(ports["DPO_PG_PORT"])))
        contracts = recorded_contracts(folder / "contracts.env")
        code = {
            name: httpx.post(
                rpc,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_getCode",
                    "params": [address, "latest"],
                },
                timeout=5,
            ).json()["result"]
            for name, address in contracts.items()
        }
    finally:
        process.send_signal(signal.SIGINT)
        _, output = process.finish(60)
    return {
        "health": health.json(),
        "graphiql": graphiql.text,
        "chain": chain.json(),
        "contracts": contracts,
        "code": code,
        "jobs": jobs,
        "book": book,
        "exit": process.returncode,
        "output": output,
    }


def test_up_serves_then_stops_everything_and_restarts_on_the_same_data(run_dir: Path) -> None:
    folder = run_dir / "up"
    ports = {
        "DPO_PG_PORT": str(free_port()),
        "DPO_REDIS_PORT": str(free_port()),
        "DPO_ANVIL_PORT": str(free_port()),
    }
    first = _up_once(folder, ports, free_port())
    health = first["health"]
    assert isinstance(health, dict)
    assert (health["status"], health["database"]["status"], health["redis"]["status"]) == (
        "ok",
        "ok",
        "ok",
    )
    assert "graphiql" in str(first["graphiql"]).lower()
    assert first["chain"] == {"jsonrpc": "2.0", "id": 1, "result": hex(31337)}
    assert "Running upgrade" in str(first["output"])
    assert first["exit"] == 0, first["output"]
    # `make run` runs every job against the sandbox within the first minute.
    assert first["jobs"] == {"sync_fx_rates", "sync_csd", "reconcile_positions"}
    # The demo book: three holders on chain, mirrored at the CSDs, one deliberate break.
    book = first["book"]
    assert isinstance(book, dict)
    assert (book["breaks"], book["positions"], book["prices"]) == (EXPECTED_BREAKS, 3, 1), book
    contracts = first["contracts"]
    assert isinstance(contracts, dict)
    assert sorted(contracts) == sorted(CONTRACT_ARTIFACTS)
    assert all(len(str(code)) > 100 for code in first["code"].values())  # type: ignore[attr-defined]
    assert _leftovers(folder) == []

    second = _up_once(folder, ports, free_port())
    assert second["exit"] == 0, second["output"]
    second_book = second["book"]
    assert isinstance(second_book, dict)
    assert second_book["breaks"] == EXPECTED_BREAKS  # planted once, the same break again
    # The chain kept its state, so the same contracts are reused, not deployed again.
    assert second["contracts"] == contracts
    # The data folder was reused: the schema was already at head, nothing to migrate.
    assert "Running upgrade" not in str(second["output"])
    assert _leftovers(folder) == []

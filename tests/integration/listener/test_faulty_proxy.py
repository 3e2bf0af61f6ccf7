"""The fault-injecting proxy itself, in front of a real anvil, seen by a plain HTTP client."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.needs_chain


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client with keep-alive, like the RPC client's."""
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def post(http: httpx.AsyncClient, url: str, method: str) -> httpx.Response:
    """One JSON-RPC request."""
    return await http.post(url, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": []})


async def test_forwards_and_counts(anvil_url: str, http: httpx.AsyncClient) -> None:
    async with FaultyProxy(anvil_url) as proxy:
        for _ in range(3):  # one kept-alive connection serves them all
            response = await post(http, proxy.url, "eth_chainId")
            assert response.status_code == 200
            assert response.json() == {"jsonrpc": "2.0", "id": 7, "result": "0x7a69"}
        assert proxy.requests_seen == Counter({"eth_chainId": 3})
        assert proxy.forwarded == 3
        assert not proxy.faults_injected


async def test_method_plans_come_before_plans_for_any_method(
    anvil_url: str,
    http: httpx.AsyncClient,
) -> None:
    async with FaultyProxy(anvil_url) as proxy:
        proxy.set_plan(["502", "429:4"])
        proxy.set_plan(["rpc:-32000:header not found"], method="eth_blockNumber")
        assert proxy.pending == 3
        answer = (await post(http, proxy.url, "eth_blockNumber")).json()
        assert answer["error"] == {"code": -32000, "message": "header not found"}
        assert answer["id"] == 7
        assert (await post(http, proxy.url, "eth_blockNumber")).status_code == 502
        limited = await post(http, proxy.url, "eth_chainId")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "4"
        assert (await post(http, proxy.url, "eth_chainId")).status_code == 200
        assert proxy.pending == 0
        assert proxy.faults_injected == Counter({"rpc": 1, "502": 1, "429": 1})


async def test_body_faults(anvil_url: str, http: httpx.AsyncClient) -> None:
    async with FaultyProxy(anvil_url) as proxy:
        proxy.set_plan(["truncate", "cut", "reset", "wrongid", "null"])
        truncated = await post(http, proxy.url, "eth_chainId")
        assert truncated.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(truncated.content)
        for _ in ("cut", "reset"):
            with pytest.raises(httpx.RemoteProtocolError):
                await post(http, proxy.url, "eth_chainId")
        assert (await post(http, proxy.url, "eth_chainId")).json()["id"] == 987654321
        assert (await post(http, proxy.url, "eth_chainId")).json()["result"] is None


async def test_timeout_holds_the_answer_and_stop_ends_it(anvil_url: str) -> None:
    async with FaultyProxy(anvil_url, hang_seconds=600) as proxy:
        proxy.set_plan(["timeout"])
        async with httpx.AsyncClient(timeout=0.3) as client:
            with pytest.raises(httpx.ReadTimeout):
                await post(client, proxy.url, "eth_chainId")
    assert proxy.faults_injected["timeout"] == 1


async def test_seeded_rates_repeat_and_default_and_clear(
    anvil_url: str,
    http: httpx.AsyncClient,
) -> None:
    outcomes: list[list[int]] = []
    for _ in range(2):
        async with FaultyProxy(anvil_url) as proxy:
            proxy.set_rates({"500": 0.3, "503": 0.2}, seed=5, methods=["eth_chainId"])
            statuses = [(await post(http, proxy.url, "eth_chainId")).status_code for _ in range(60)]
            assert (await post(http, proxy.url, "eth_blockNumber")).status_code == 200
            outcomes.append(statuses)
            assert proxy.faults_injected["500"] == statuses.count(500)
            assert 5 <= statuses.count(500) <= 35
            assert 2 <= statuses.count(503) <= 25
            proxy.set_default("503")
            assert (await post(http, proxy.url, "eth_blockNumber")).status_code == 503
            proxy.clear()
            assert (await post(http, proxy.url, "eth_chainId")).status_code == 200
    assert outcomes[0] == outcomes[1]


def test_rates_above_one_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        FaultyProxy("http://127.0.0.1:1").set_rates({"500": 0.7, "timeout": 0.4})

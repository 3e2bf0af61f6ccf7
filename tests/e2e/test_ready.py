"""/api/ready reports the chain RPC but does not depend on it."""

from __future__ import annotations

import httpx

from dpo.embedded.process import free_port
from tests.e2e.conftest import SharedWeb, base_env, web_server


def test_ready_reports_a_reachable_rpc(migrated_url: str, redis_url: str, anvil_url: str) -> None:
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, BLOCKCHAIN_RPC_URL=anvil_url)
    with web_server(env) as base:
        ready = httpx.get(base + "/api/ready")
    assert ready.status_code == 200
    assert ready.json()["rpc"]["status"] == "ok"


def test_rpc_down_is_reported_but_ready_stays_200(migrated_url: str, redis_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/secret-api-key-123"
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, BLOCKCHAIN_RPC_URL=dead)
    with web_server(env) as base:
        ready = httpx.get(base + "/api/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["rpc"]["status"] == "down"
    assert "secret-api-key" not in ready.text


def test_no_rpc_configured_means_no_rpc_entry(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    base = shared_web(base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url))
    ready = httpx.get(base + "/api/ready")
    assert ready.status_code == 200
    assert "rpc" not in ready.json()

"""A real anvil chain per test module, with the four contracts deployed by deploy_all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.deploy import deploy_all

ROOT = Path(__file__).resolve().parents[3]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
# anvil's first default account (mnemonic "test test ... junk"); public knowledge, dev only.
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
START_TIMEOUT = 30.0


def in_ci() -> bool:
    """Tell whether we run under CI, where a missing tool is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    """Ask the OS for a port nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def chain_id(url: str) -> int | None:
    """Return eth_chainId, or None while the node does not answer yet."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        return int(httpx.post(url, json=body, timeout=1, trust_env=False).json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop anvil and its wrapper: the whole process group we started, TERM then KILL."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def anvil_url() -> Iterator[str]:
    """Start anvil on a free port, wait until it answers, and stop it after the module."""
    if not ANVIL.exists():
        message = f"{ANVIL} is missing: run `npm ci`"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Its own session, so that teardown can reach the real binary behind the node wrapper.
    proc = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while chain_id(url) is None:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"anvil exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                pytest.fail(f"anvil did not answer on {url} within {START_TIMEOUT:.0f}s")
            time.sleep(0.05)
        yield url
    finally:
        stop(proc)
        # The wrapper is gone; make sure the chain behind it has stopped answering too.
        deadline = time.monotonic() + 5
        while chain_id(url) is not None and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture(scope="module")
async def w3(anvil_url: str) -> AsyncIterator[AsyncWeb3[AsyncHTTPProvider]]:
    """An AsyncWeb3 client of the module's anvil."""
    provider = AsyncHTTPProvider(anvil_url)
    client = AsyncWeb3(provider)
    yield client
    await provider.disconnect()


@pytest.fixture(scope="module")
async def deployed(anvil_url: str) -> dict[str, str]:
    """The four contracts, deployed with anvil's first key through deploy_all."""
    return await deploy_all(anvil_url, ANVIL_KEY)

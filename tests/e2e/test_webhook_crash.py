"""kill -9 of `dpo web` while it applies a paid webhook, then BillBitts' retry: the end state
equals a clean run (paid, one issuance owed, one stored delivery, one message)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from dpo.embedded.process import free_port
from tests.e2e.conftest import ROOT, base_env, wait_http
from tests.e2e.http_seed import HMAC_SECRET, SECRET, World, seed
from tests.e2e.webhook_world import WEBHOOK_SECRET, body_for, counts, new_order, post, signed
from tests.integration.api.committed import Api


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


@contextmanager
def web(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "web", "--port", str(port)],
            env=env,
            cwd=ROOT / "tests",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/api/health/", timeout=90)
            yield process
        finally:
            process.kill()
            process.wait(20)


async def test_kill_9_mid_webhook_then_the_retry_ends_as_a_clean_run(
    api: Api, world: World, redis_url: str
) -> None:
    env = base_env(
        DATABASE_URL=api.url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET,
        API_HMAC_SECRET=HMAC_SECRET,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(12)
    orders = [
        await new_order(api, investor_id=world.ids["investor"], offering_id=world.ids["acme_open"])
        for _ in range(4)
    ]
    bodies = {reference: body_for("payment.paid", reference) for _, reference in orders}
    for _, reference in orders:
        with web(env, port) as process:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                delivery = asyncio.ensure_future(
                    post(client, bodies[reference], signed(bodies[reference]))
                )
                await asyncio.sleep(rng.uniform(0.0, 0.08))
                process.kill()  # SIGKILL: no clean-up of any kind
                await asyncio.gather(delivery, return_exceptions=True)
    # BillBitts retries every delivery it did not see answered 200, later, to a new process.
    with web(env, port):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _, reference in orders:
                answer = await post(client, bodies[reference], signed(bodies[reference]))
                assert answer.status_code == 200, answer.text
    for investment, reference in orders:
        after = await counts(api, investment, reference)
        assert after.state == "paid"
        assert after.intents == ("invest", "issue")
        assert after.deliveries == 1
        assert after.notifications == (f"payment_confirmed:inv:{investment}",)

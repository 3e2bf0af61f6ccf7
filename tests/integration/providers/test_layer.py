"""The client layer: breaker, Retry-After, body limits, XML bombs, secrets, shared state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from dpo.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from dpo.providers.breaker import Breakers
from dpo.providers.factory import Providers
from dpo.providers.http import parse_retry_after
from sandbox.server import Sandbox
from tests.integration.providers.conftest import settings_for

BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<Cube><Cube time='2026-01-02'><Cube currency='USD' rate='&lol3;'/></Cube></Cube>"
)


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """The backoffs stamina schedules during the test."""
    seen: list[float] = []
    before = get_on_retry_hooks()

    def hook(details: RetryDetails) -> None:
        seen.append(details.wait_for)

    set_on_retry_hooks([hook])
    yield seen
    set_on_retry_hooks(before)


async def test_the_breaker_opens_then_closes_after_a_good_trial(
    sandbox: Sandbox, providers: Providers
) -> None:
    ecb = sandbox.world.ecb
    ecb.faults.set(always="500")
    for _ in range(3):  # PROVIDER_BREAKER_THRESHOLD=3
        with pytest.raises(ProviderUnavailable, match="HTTP 500"):
            await providers.ecb.daily()
    assert (await providers.breakers.state("ecb")).state == "open"
    sent = len(ecb.requests)
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        await providers.ecb.daily()
    assert len(ecb.requests) == sent  # not called while open
    ecb.faults.clear()
    await asyncio.sleep(0.6)  # PROVIDER_BREAKER_RESET_SECONDS=0.5
    assert (await providers.ecb.daily()).rates
    assert (await providers.breakers.state("ecb")).state == "closed"
    assert (await providers.breakers.state("xetra")).state == "closed"


async def test_a_failed_trial_opens_the_circuit_again(
    sandbox: Sandbox, providers: Providers
) -> None:
    sandbox.world.ecb.faults.set(always="503")
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await providers.ecb.daily()
    await asyncio.sleep(0.6)
    sent = len(sandbox.world.ecb.requests)
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        await providers.ecb.daily()  # the trial goes through, and fails
    assert len(sandbox.world.ecb.requests) > sent
    assert (await providers.breakers.state("ecb")).state == "open"


async def test_refusals_never_open_the_circuit(sandbox: Sandbox, providers: Providers) -> None:
    sandbox.world.ecb.faults.set(always="404")
    for _ in range(5):
        with pytest.raises(ProviderRejected):
            await providers.ecb.daily()
    assert (await providers.breakers.state("ecb")).state == "closed"


async def test_retry_after_is_honoured_and_capped(
    sandbox: Sandbox, providers: Providers, waits: list[float]
) -> None:
    sandbox.world.ecb.faults.set(["429:0.2", "429:3600"])
    await providers.ecb.daily()
    assert waits == pytest.approx([0.2, 0.5])  # PROVIDER_RETRY_AFTER_MAX=0.5


async def test_backoff_without_retry_after_is_exponential_with_jitter(
    sandbox: Sandbox, providers: Providers, waits: list[float]
) -> None:
    sandbox.world.ecb.faults.set(["500", "500"])
    await providers.ecb.daily()
    assert len(waits) == 2
    assert all(0 < wait <= 0.05 for wait in waits)


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


async def test_an_entity_bomb_is_refused_not_expanded(
    sandbox: Sandbox, providers: Providers
) -> None:
    sandbox.world.ecb.faults.malformed_body = BOMB
    try:
        sandbox.world.ecb.faults.set(["malformed"])
        with pytest.raises(ProviderMalformed, match="not well-formed XML"):
            await providers.ecb.daily()
    finally:
        sandbox.world.ecb.faults.malformed_body = b"<gesmes:Envelope>"


async def test_a_huge_answer_is_refused(sandbox: Sandbox) -> None:
    sandbox.world.reset()
    sandbox.world.euroclear.plant(
        {
            "page_size": 500,
            "holdings": [
                {"account": f"ACCOUNT-{n:06d}", "isin": "DE0001102580", "quantity": n}
                for n in range(500)
            ],
        }
    )
    settings = settings_for(sandbox, PROVIDER_MAX_RESPONSE_BYTES="2048")
    clients = Providers.from_settings(settings, breakers=Breakers(threshold=3, reset_seconds=1))
    try:
        with pytest.raises(ProviderMalformed, match="larger than 2048 bytes"):
            [page async for page in clients.euroclear.holdings()]
    finally:
        await clients.aclose()


async def test_nothing_secret_in_logs_or_errors(
    sandbox: Sandbox, providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    keys = sandbox.world.keys
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    for fault in ("500", "401", "malformed", "reset", None):
        for sim in (
            sandbox.world.xetra,
            sandbox.world.euroclear,
            sandbox.world.clearstream,
            sandbox.world.omnisend,
        ):
            sim.faults.set([fault] if fault else [], always=fault if fault == "500" else None)
        calls = [
            providers.xetra.prices(["DE0001102580"]),
            providers.clearstream.statuses(["REF-1"]),
            providers.omnisend.send_event(
                "payment_confirmed", email="a@example.com", fields={"amount": "10.00"}
            ),
        ]
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(outcome, Exception):
                errors.append(f"{outcome!s} {outcome!r} {getattr(outcome, 'details', '')}")
        try:
            [page async for page in providers.euroclear.holdings()]
        except Exception as error:
            errors.append(f"{error!s} {error!r} {getattr(error, 'details', '')}")
    assert errors
    assert caplog.records
    assert any(r["authorised"] for r in sandbox.world.euroclear.requests)  # the key was sent
    text = caplog.text + "\n".join(errors) + repr(providers.euroclear.http.endpoint)
    for secret in keys.values():
        assert secret not in text


async def test_the_circuit_is_shared_through_redis(redis_url: str) -> None:
    cron = Breakers(threshold=2, reset_seconds=60, redis_url=redis_url, namespace="t:cb:")
    web = Breakers(threshold=2, reset_seconds=60, redis_url=redis_url, namespace="t:cb:")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            async with await cron.guard("euroclear"):
                raise RuntimeError("down")
    state = await web.state("euroclear")
    assert state.state == "open"
    assert state.as_dict()["circuit"] == "open"
    assert (await web.state("clearstream")).state == "closed"


async def test_our_threshold_applies_to_a_circuit_registered_by_another(redis_url: str) -> None:
    first = Breakers(threshold=50, reset_seconds=600, redis_url=redis_url, namespace="t:th:")
    async with await first.guard("xetra"):
        pass  # registered in Redis with threshold 50
    ours = Breakers(threshold=1, reset_seconds=600, redis_url=redis_url, namespace="t:th:")
    with pytest.raises(RuntimeError):
        async with await ours.guard("xetra"):
            raise RuntimeError("down")
    assert (await ours.state("xetra")).state == "open"
    await first.aclose()
    await ours.aclose()


async def test_a_refused_connection_is_retried_even_for_a_send(
    sandbox: Sandbox, waits: list[float]
) -> None:
    # Nothing listens there: the request surely never arrived, so even a send is retried.
    from dpo.embedded.process import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    settings = settings_for(sandbox, OMNISEND_API_BASE=dead, EUROCLEAR_API_BASE=dead)
    clients = Providers.from_settings(settings, breakers=Breakers(threshold=9, reset_seconds=1))
    try:
        with pytest.raises(ProviderUnavailable, match="connection failed"):
            await clients.omnisend.send_event("tokens_issued", email="a@example.com", fields={})
        assert len(waits) == 2  # PROVIDER_RETRY_ATTEMPTS=3
        with pytest.raises(ProviderUnavailable, match="connection failed"):
            [page async for page in clients.euroclear.holdings()]
        assert len(waits) == 4
    finally:
        await clients.aclose()

"""Every client against the sandbox over real HTTP, under every fault switch."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from dpo.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from dpo.providers.billbitts import PaymentRequest
from dpo.providers.clearstream import IsinRequest
from dpo.providers.factory import Providers
from sandbox.base import Simulator
from sandbox.server import Sandbox

ISIN = "DE0001102580"
Call = Callable[[Providers], Awaitable[Any]]


async def _ecb(p: Providers) -> Any:
    return await p.ecb.daily()


async def _xetra(p: Providers) -> Any:
    return await p.xetra.prices([ISIN])


async def _euroclear(p: Providers) -> Any:
    return [page async for page in p.euroclear.holdings()]


async def _clearstream(p: Providers) -> Any:
    return [page async for page in p.clearstream.holdings()]


async def _pmi(p: Providers) -> Any:
    return await p.clearstream.request_isin(
        IsinRequest(
            request_ref="DPO-OFFERING-1",
            issuer_name="Acme AG",
            instrument_name="Acme 2030",
            currency="EUR",
            security_type="bond",
        )
    )


async def _omnisend(p: Providers) -> Any:
    await p.omnisend.send_event(
        "tokens_issued", email="investor@example.com", fields={"offering": "Acme 2030", "units": 10}
    )


async def _billbitts(p: Providers) -> Any:
    return await p.billbitts.create_payment(
        PaymentRequest(
            reference="DPO-FALT-0001",
            amount=Decimal("100.00"),
            currency="EUR",
            description="Acme 2030",
            expires_in_seconds=3600,
            investment_id=1,
        )
    )


CLIENTS: dict[str, tuple[str, Call]] = {
    "ecb": ("ecb", _ecb),
    "xetra": ("xetra", _xetra),
    "euroclear": ("euroclear", _euroclear),
    "clearstream": ("clearstream", _clearstream),
    "pmi": ("clearstream", _pmi),
    "omnisend": ("omnisend", _omnisend),
    "billbitts": ("billbitts", _billbitts),
}
IDEMPOTENT = [name for name in CLIENTS if name != "omnisend"]


def sim(sandbox: Sandbox, name: str) -> Simulator:
    simulator: Simulator = getattr(sandbox.world, CLIENTS[name][0])
    return simulator


def plant(sandbox: Sandbox) -> None:
    world = sandbox.world
    world.xetra.plant(
        {
            "prices": [
                {"isin": ISIN, "currency": "EUR", "last": "101.25", "asOf": "2026-12-04T16:30:00Z"}
            ]
        }
    )
    for csd in (world.euroclear, world.clearstream):
        csd.plant(
            {
                "page_size": 2,
                "holdings": [
                    {"account": f"ACC{n}", "isin": ISIN, "quantity": 10 * n} for n in range(1, 6)
                ],
            }
        )


@pytest.mark.parametrize("name", list(CLIENTS))
async def test_a_clean_call_works_and_carries_a_request_id(
    sandbox: Sandbox, providers: Providers, name: str
) -> None:
    plant(sandbox)
    result = await CLIENTS[name][1](providers)
    if name in ("euroclear", "clearstream"):
        assert [p.details.pagination.page for p in result] == [1, 2, 3]
        assert sum(b.quantity for p in result for b in p.balances) == 150
    requests = sim(sandbox, name).requests
    assert requests
    assert all(r["authorised"] is True for r in requests)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["request_id"] or "") for r in requests)
    assert len({r["request_id"] for r in requests}) == len(requests)  # one per call


@pytest.mark.parametrize("fault", ["500", "502", "503", "429:0.05", "slow:1", "reset"])
@pytest.mark.parametrize("name", IDEMPOTENT)
async def test_a_transient_fault_is_retried_with_the_same_request_id(
    sandbox: Sandbox, providers: Providers, name: str, fault: str
) -> None:
    plant(sandbox)
    simulator = sim(sandbox, name)
    simulator.faults.set([fault])
    await CLIENTS[name][1](providers)
    assert simulator.faults.injected[fault.split(":")[0]] == 1
    first, second = simulator.requests[0], simulator.requests[1]
    assert first["request_id"] == second["request_id"]


@pytest.mark.parametrize("fault", ["500", "429:0.05", "reset"])
@pytest.mark.parametrize("name", list(CLIENTS))
async def test_a_fault_that_persists_is_provider_unavailable(
    sandbox: Sandbox, providers: Providers, name: str, fault: str
) -> None:
    plant(sandbox)
    simulator = sim(sandbox, name)
    simulator.faults.set(always=fault)
    with pytest.raises(ProviderUnavailable) as caught:
        await CLIENTS[name][1](providers)
    assert caught.value.code.value == "PROVIDER_UNAVAILABLE"
    assert caught.value.provider == CLIENTS[name][0]
    retried = name != "omnisend" or fault.startswith("429")
    assert len(simulator.requests) == (3 if retried else 1)


async def test_a_provider_that_stays_slow_is_unavailable(
    sandbox: Sandbox, providers: Providers
) -> None:
    sandbox.world.ecb.faults.set(always="slow:2")
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await providers.ecb.daily()
    assert sandbox.world.ecb.faults.injected["slow"] == 3


async def test_a_send_that_timed_out_is_not_sent_twice(
    sandbox: Sandbox, providers: Providers
) -> None:
    # The provider may have acted on it: the outbox decides, not a blind resend.
    sandbox.world.omnisend.faults.set(["slow:1"])
    with pytest.raises(ProviderUnavailable):
        await _omnisend(providers)
    assert len(sandbox.world.omnisend.requests) == 1


@pytest.mark.parametrize("fault", ["malformed", "wrong_schema"])
@pytest.mark.parametrize("name", list(CLIENTS))
async def test_a_malformed_or_wrong_schema_answer_is_provider_malformed(
    sandbox: Sandbox, providers: Providers, name: str, fault: str
) -> None:
    plant(sandbox)
    simulator = sim(sandbox, name)
    simulator.faults.set([fault])
    with pytest.raises(ProviderMalformed) as caught:
        await CLIENTS[name][1](providers)
    assert caught.value.code.value == "PROVIDER_MALFORMED"
    assert len(simulator.requests) == 1  # a parse failure is not retried


@pytest.mark.parametrize("status", ["400", "401", "404"])
@pytest.mark.parametrize("name", list(CLIENTS))
async def test_a_refusal_is_provider_rejected_and_not_retried(
    sandbox: Sandbox, providers: Providers, name: str, status: str
) -> None:
    plant(sandbox)
    simulator = sim(sandbox, name)
    simulator.faults.set([status])
    with pytest.raises(ProviderRejected) as caught:
        await CLIENTS[name][1](providers)
    assert caught.value.details["status"] == int(status)
    assert simulator.faults.injected[status] == 1
    assert len(simulator.requests) == 1


async def test_a_wrong_key_is_rejected(sandbox: Sandbox, providers: Providers) -> None:
    sandbox.world.euroclear.api_key = "another-key"
    try:
        with pytest.raises(ProviderRejected, match="HTTP 401"):
            await _euroclear(providers)
    finally:
        sandbox.world.euroclear.api_key = sandbox.world.keys["EUROCLEAR_API_KEY"]
    assert [r["authorised"] for r in sandbox.world.euroclear.requests] == [False]

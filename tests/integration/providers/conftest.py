"""A sandbox per module and provider clients pointed at it, with fast retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from dpo.providers.breaker import Breakers
from dpo.providers.factory import Providers
from dpo.settings import Settings
from sandbox.server import Sandbox

FAST = {
    "PROVIDER_RETRY_ATTEMPTS": "3",
    "PROVIDER_RETRY_WAIT_INITIAL": "0.01",
    "PROVIDER_RETRY_WAIT_MAX": "0.05",
    "PROVIDER_RETRY_AFTER_MAX": "0.5",
    "PROVIDER_RETRY_SECONDS": "10",
    "PROVIDER_BREAKER_THRESHOLD": "3",
    "PROVIDER_BREAKER_RESET_SECONDS": "0.5",
    "ECB_TIMEOUT": "0.5",
    "XETRA_TIMEOUT": "0.5",
    "EUROCLEAR_TIMEOUT": "0.5",
    "CLEARSTREAM_TIMEOUT": "0.5",
    "OMNISEND_TIMEOUT": "0.5",
    "BILLBITTS_TIMEOUT": "0.5",
}


def settings_for(sandbox: Sandbox, **overrides: str) -> Settings:
    """Settings pointing at the sandbox, read the way the services read them."""
    values = {**sandbox.environment(), **FAST, **overrides}
    return Settings(
        **{
            Settings.model_fields[name].alias or name: value  # type: ignore[arg-type]
            for name, value in _by_field(values).items()
        }
    )


def _by_field(values: dict[str, str]) -> dict[str, str]:
    aliases = {field.alias: name for name, field in Settings.model_fields.items() if field.alias}
    return {aliases[key]: value for key, value in values.items()}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The simulators on a free port for this module."""
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture
async def providers(sandbox: Sandbox) -> AsyncIterator[Providers]:
    """Fresh clients (and breakers) over a reset sandbox."""
    sandbox.world.reset()
    settings = settings_for(sandbox)
    clients = Providers.from_settings(
        settings,
        breakers=Breakers(
            threshold=settings.provider_breaker_threshold,
            reset_seconds=settings.provider_breaker_reset_seconds,
        ),
    )
    yield clients
    await clients.aclose()

"""Every provider client, built from the settings and closed together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from dpo.providers.billbitts import BillBittsClient
from dpo.providers.billbitts_signing import KeyFileSigner
from dpo.providers.breaker import Breakers, CircuitState
from dpo.providers.clearstream import Clearstream
from dpo.providers.csd import CsdAdapter, JsonCsd
from dpo.providers.ecb import EcbClient
from dpo.providers.endpoint import Endpoint, RetryPolicy
from dpo.providers.http import ProviderHttp
from dpo.providers.omnisend import OmnisendClient
from dpo.providers.xetra import XetraClient
from dpo.settings import Settings

PROVIDERS = ("ecb", "xetra", "euroclear", "clearstream", "omnisend", "billbitts")


def breakers_for(
    settings: Settings, *, redis_url: str | None = None, redis: Any = None
) -> Breakers:
    """The circuit breakers the PROVIDER_BREAKER_* settings describe (in Redis when given)."""
    return Breakers(
        threshold=settings.provider_breaker_threshold,
        reset_seconds=settings.provider_breaker_reset_seconds,
        redis_url=redis_url,
        redis=redis,
    )


def billbitts_endpoint(settings: Settings) -> Endpoint:
    """BillBitts: the API key plus a signature by the PEM key (when one is configured)."""
    key_path = settings.billbitts_private_key_path
    return Endpoint(
        "billbitts",
        settings.billbitts_api_url,
        settings.billbitts_timeout,
        settings.billbitts_api_key,
        signer=KeyFileSigner(key_path, provider="billbitts") if key_path else None,
    )


def billbitts_client(
    settings: Settings, *, breakers: Breakers, transport: httpx.AsyncBaseTransport | None = None
) -> BillBittsClient:
    """A BillBitts client alone (the web service needs no other provider)."""
    return BillBittsClient(
        ProviderHttp(
            billbitts_endpoint(settings),
            policy=RetryPolicy.from_settings(settings),
            breakers=breakers,
            transport=transport,
        )
    )


def _split(url: str) -> tuple[str, str]:
    # A full document URL (the ECB feed) becomes a base and a last segment.
    parts = urlsplit(url)
    folder, _, name = parts.path.rpartition("/")
    return urlunsplit((parts.scheme, parts.netloc, folder + "/", "", "")), name


def _participant(participant_id: str | None) -> dict[str, str]:
    return {"X-Participant-ID": participant_id} if participant_id else {}


@dataclass
class Providers:
    """One client per provider, sharing the breakers."""

    ecb: EcbClient
    xetra: XetraClient
    euroclear: JsonCsd
    clearstream: Clearstream
    omnisend: OmnisendClient
    billbitts: BillBittsClient
    breakers: Breakers
    _https: tuple[ProviderHttp, ...]

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        breakers: Breakers,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Providers:
        """Clients for the configured endpoints."""
        policy = RetryPolicy.from_settings(settings)

        def http(endpoint: Endpoint) -> ProviderHttp:
            return ProviderHttp(endpoint, policy=policy, breakers=breakers, transport=transport)

        ecb_base, ecb_path = _split(settings.ecb_fx_url)
        ecb = http(Endpoint("ecb", ecb_base, settings.ecb_timeout))
        xetra = http(
            Endpoint(
                "xetra",
                settings.xetra_api_base,
                settings.xetra_timeout,
                settings.xetra_api_key,
                headers=_participant(settings.xetra_participant_id),
            )
        )
        euroclear = http(
            Endpoint(
                "euroclear",
                settings.euroclear_api_base,
                settings.euroclear_timeout,
                settings.euroclear_api_key,
            )
        )
        clearstream = http(
            Endpoint(
                "clearstream",
                settings.clearstream_pmi_base,
                settings.clearstream_timeout,
                settings.clearstream_pmi_key,
                headers=_participant(settings.clearstream_participant_id),
            )
        )
        omnisend = http(
            Endpoint(
                "omnisend",
                settings.omnisend_api_base,
                settings.omnisend_timeout,
                settings.omnisend_api_key,
                key_header="X-API-KEY",
                key_prefix="",
            )
        )
        billbitts = http(billbitts_endpoint(settings))
        return cls(
            ecb=EcbClient(ecb, path=ecb_path),
            xetra=XetraClient(xetra),
            euroclear=JsonCsd("euroclear", euroclear),
            clearstream=Clearstream(clearstream),
            omnisend=OmnisendClient(omnisend, from_email=settings.default_from_email),
            billbitts=BillBittsClient(billbitts),
            breakers=breakers,
            _https=(ecb, xetra, euroclear, clearstream, omnisend, billbitts),
        )

    def depositories(self) -> list[CsdAdapter]:
        """The CSDs sync_csd reads, in a fixed order."""
        return [self.euroclear, self.clearstream]

    async def circuits(self) -> dict[str, CircuitState]:
        """Every provider's circuit now."""
        return {name: await self.breakers.state(name) for name in PROVIDERS}

    async def aclose(self) -> None:
        """Close every connection pool."""
        for http in self._https:
            await http.aclose()

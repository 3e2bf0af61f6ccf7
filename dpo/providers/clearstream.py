"""Clearstream: a depository (semt.002 / sese.024) and its primary-market issuance (PMI) desk.

The ISIN request is keyed by our own request reference, which Clearstream de-duplicates:
sending it again (a retry, a rerun after a crash) returns the same request, never a second
ISIN. So the POST is safe to retry like a read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from dpo.errors import ProviderMalformed
from dpo.providers.csd import Isin, JsonCsd, Max35, _Strict
from dpo.providers.http import ProviderHttp
from dpo.providers.wire import decode

PROVIDER = "clearstream"


class IsinRequest(_Strict):
    """What we ask PMI to allocate an ISIN for."""

    request_ref: Max35 = Field(alias="requestRef")
    issuer_name: Annotated[str, StringConstraints(min_length=1, max_length=140)] = Field(
        alias="issuerName"
    )
    instrument_name: Annotated[str, StringConstraints(min_length=1, max_length=140)] = Field(
        alias="instrumentName"
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    security_type: Annotated[str, StringConstraints(max_length=32)] = Field(alias="securityType")
    issuer_lei: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{18}[0-9]{2}$")] | None = Field(
        None, alias="issuerLei"
    )


class IsinAllocation(_Strict):
    """PMI's answer: pending, allocated (with the ISIN) or rejected (with a reason)."""

    request_ref: Max35 = Field(alias="requestRef")
    status: Literal["PENDING", "ALLOCATED", "REJECTED"]
    isin: Isin | None = None
    reason: Annotated[str, StringConstraints(max_length=350)] | None = None

    @model_validator(mode="after")
    def _isin_iff_allocated(self) -> IsinAllocation:
        if (self.status == "ALLOCATED") != (self.isin is not None):
            raise ValueError("an ISIN comes with ALLOCATED and only then")
        return self


class Clearstream(JsonCsd):
    """Holdings and statuses (the shared adapter) plus the PMI ISIN request."""

    def __init__(self, http: ProviderHttp) -> None:
        super().__init__(PROVIDER, http)

    async def request_isin(self, request: IsinRequest) -> IsinAllocation:
        """Ask for an ISIN (or get the answer to the same request made before)."""
        allocation = await self.http.call(
            "POST",
            "v1/pmi/isin-requests",
            lambda response, body: decode(PROVIDER, IsinAllocation, body),
            json=request.model_dump(by_alias=True, exclude_none=True),
        )
        if allocation.request_ref != request.request_ref:
            raise ProviderMalformed(PROVIDER, "answer is for another request")
        return allocation

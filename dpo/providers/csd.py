"""The depositories behind one interface: holdings statements and settlement statuses.

Modelled on ISO 20022: a statement of holdings (semt.002: general details with a page
number and a last-page flag, one balance per safekeeping account and ISIN) and a settlement
status report (sese.024: processing, matching and settlement status, with a reason). The
JSON shape we assume is in docs/INTEGRATIONS.md; a real contract replaces `JsonCsd` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from dpo.db.models.enums import MatchingStatus, ProcessingStatus, SettlementStatus
from dpo.errors import ProviderMalformed
from dpo.providers.http import ProviderHttp
from dpo.providers.wire import MAX_UINT256, decode

Isin = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")]
Max35 = Annotated[str, StringConstraints(min_length=1, max_length=35)]
MAX_PAGES = 10_000
STATUS_BATCH = 100


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Pagination(_Strict):
    page: int = Field(alias="pgNb", ge=1)
    last: bool = Field(alias="lastPgInd")


class StatementDetails(_Strict):
    statement_id: Max35 = Field(alias="stmtId")
    statement_date: date = Field(alias="stmtDt")
    pagination: Pagination = Field(alias="pgntn")


class Balance(_Strict):
    """One holding: an account's quantity of an ISIN (aggregate balance, units)."""

    account: Max35 = Field(alias="sfkpgAcct")
    isin: Isin
    quantity: int = Field(alias="aggtBal", ge=0, le=MAX_UINT256)

    @field_validator("quantity", mode="before")
    @classmethod
    def _digits(cls, value: object) -> object:
        # Quantities travel as decimal strings (uint256 does not fit a JSON number safely).
        if not isinstance(value, str) or not value.isdigit() or len(value) > 78:
            raise ValueError("quantity must be a string of digits")
        return int(value)


class HoldingsPage(_Strict):
    """One page of a semt.002 statement."""

    details: StatementDetails = Field(alias="stmtGnlDtls")
    balances: list[Balance] = Field(alias="balances", max_length=10_000)


class Reason(_Strict):
    code: Annotated[str, StringConstraints(max_length=4)] = Field(alias="cd")
    text: Annotated[str, StringConstraints(max_length=350)] | None = Field(None, alias="txt")


PROCESSING = {
    "PEND": ProcessingStatus.PENDING,
    "PACK": ProcessingStatus.ACKNOWLEDGED,
    "REJT": ProcessingStatus.REJECTED,
    "REPR": ProcessingStatus.REPAIR,
    "CPRC": ProcessingStatus.CANCELLATION_REQUESTED,
    "CAND": ProcessingStatus.CANCELLED,
}
MATCHING = {"NMAT": MatchingStatus.UNMATCHED, "MACH": MatchingStatus.MATCHED}
SETTLEMENT = {
    "PEND": SettlementStatus.PENDING,
    "PENF": SettlementStatus.FAILING,
    "PART": SettlementStatus.PARTIALLY_SETTLED,
    "SETT": SettlementStatus.SETTLED,
}


class StatusReport(_Strict):
    """A sese.024 status of one of our instructions, mapped onto our states."""

    reference: Max35 = Field(alias="ref")
    processing: Literal["PEND", "PACK", "REJT", "REPR", "CPRC", "CAND"] = Field(alias="prcgSts")
    matching: Literal["NMAT", "MACH"] = Field(alias="mtchgSts")
    settlement: Literal["PEND", "PENF", "PART", "SETT"] = Field(alias="sttlmSts")
    reason: Reason | None = Field(None, alias="rsn")
    settled_at: datetime | None = Field(None, alias="sttldAt")

    @property
    def processing_status(self) -> ProcessingStatus:
        """Our processing state."""
        return PROCESSING[self.processing]

    @property
    def matching_status(self) -> MatchingStatus:
        """Our matching state."""
        return MATCHING[self.matching]

    @property
    def settlement_status(self) -> SettlementStatus:
        """Our settlement state."""
        return SETTLEMENT[self.settlement]

    @property
    def reason_text(self) -> str | None:
        """`CODE: narrative`, as stored in settlement_instructions.status_reason."""
        if self.reason is None:
            return None
        return f"{self.reason.code}: {self.reason.text}" if self.reason.text else self.reason.code


class StatusPage(_Strict):
    statuses: list[StatusReport] = Field(max_length=STATUS_BATCH)


class CsdAdapter(Protocol):
    """What sync_csd needs from a depository."""

    name: str

    def holdings(self, statement_date: date | None = None) -> AsyncIterator[HoldingsPage]:
        """The statement's pages in order (the latest statement when no date is given)."""
        ...

    async def statuses(self, references: Sequence[str]) -> list[StatusReport]:
        """The current status of each of our instructions the depository knows."""
        ...


class JsonCsd:
    """A depository speaking the assumed JSON form of semt.002 and sese.024."""

    def __init__(self, name: str, http: ProviderHttp) -> None:
        self.name = name
        self.http = http

    def _page(self, expected: int) -> Callable[[httpx.Response, bytes], HoldingsPage]:
        def parse(response: httpx.Response, body: bytes) -> HoldingsPage:
            page = decode(self.name, HoldingsPage, body)
            if page.details.pagination.page != expected:
                raise ProviderMalformed(
                    self.name, f"asked for page {expected}, got {page.details.pagination.page}"
                )
            return page

        return parse

    async def holdings(self, statement_date: date | None = None) -> AsyncIterator[HoldingsPage]:
        """Every page of one statement; a statement that changes mid-way is refused."""
        first: StatementDetails | None = None
        for number in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {"page": number}
            if statement_date is not None:
                params["date"] = statement_date.isoformat()
            elif first is not None:
                params["date"] = first.statement_date.isoformat()
            page: HoldingsPage = await self.http.call(
                "GET", "v1/semt002/statements", self._page(number), params=params
            )
            if first is None:
                first = page.details
            elif (page.details.statement_id, page.details.statement_date) != (
                first.statement_id,
                first.statement_date,
            ):
                raise ProviderMalformed(self.name, "statement changed between pages")
            yield page
            if page.details.pagination.last:
                return
        raise ProviderMalformed(self.name, f"statement longer than {MAX_PAGES} pages")

    async def statuses(self, references: Sequence[str]) -> list[StatusReport]:
        """Statuses in batches of STATUS_BATCH references (a query: safe to retry)."""
        reports: list[StatusReport] = []
        for start in range(0, len(references), STATUS_BATCH):
            batch = list(references[start : start + STATUS_BATCH])
            page = await self.http.call(
                "POST",
                "v1/sese024/status-queries",
                lambda response, body: decode(self.name, StatusPage, body),
                json={"refs": batch},
            )
            reports.extend(report for report in page.statuses if report.reference in batch)
        return reports

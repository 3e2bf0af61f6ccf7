"""One offering with its issuer and totals in one statement: what a detail page shows.

`dpo.services.offerings.get_offering` and the loaders would read the three with three
statements (three round trips, and the statement overhead of each); a detail page that asks
for all three reads them joined. Same visibility and answers as `get_offering`, and the same
totals as `list_offering_totals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Label,
    Row,
    Select,
    String,
    any_,
    bindparam,
    distinct,
    func,
    select,
    true,
)
from sqlalchemy.sql.selectable import LateralFromClause

from dpo.auth.principal import Principal
from dpo.db import raw_reads
from dpo.db.models import Investment, Issuer, Offering
from dpo.errors import NotFoundError, ValidationError
from dpo.services.offerings import (
    COMMITTED_STATES,
    OfferingTotals,
    visibility,
    visible_where,
)

OFFERINGS = Offering.__table__
ISSUERS = Issuer.__table__
INVESTMENTS = Investment.__table__
COMMITTED = [str(state) for state in COMMITTED_STATES]


@dataclass(frozen=True)
class IssuerFields:
    """An issuer's columns read beside its offering."""

    id: int
    name: str
    country: str | None
    website: str | None


@dataclass(frozen=True)
class OfferingDetail:
    """A row of the offerings table, its issuer (None only if the row is missing: a bug the
    caller reports) and its committed totals."""

    offering: Row[Any]
    issuer: IssuerFields | None
    totals: OfferingTotals


async def get_offering_detail(
    reads: raw_reads.Reads, *, principal: Principal, id: int | None = None, isin: str | None = None
) -> OfferingDetail:
    """One offering by id or ISIN with its issuer and totals; NotFoundError as get_offering.

    Built once per shape (by id or by ISIN, and the caller's visibility rule) with every
    value a named parameter, and run on the driver connection (`raw_reads.fetch_fixed`).
    """
    if (id is None) == (isin is None):
        raise ValidationError("give exactly one of id and isin", field="id")
    by = "id" if id is not None else "isin"
    rule, values = visibility(principal)
    values.update(id=id, isin=isin, committed=COMMITTED)
    rows = await raw_reads.fetch_fixed(
        reads, ("offering detail", by, rule), lambda: _detail_statement(by, rule), values
    )
    if not rows:
        raise NotFoundError("no such offering")
    row = rows[0]
    return OfferingDetail(offering=row, issuer=_issuer_of(row), totals=_totals_of(row))


def _detail_statement(by: str, rule: str) -> Select[Any]:
    totals = _totals()
    return (
        select(OFFERINGS, *_issuer_columns(), *totals.c)
        .select_from(
            OFFERINGS.outerjoin(ISSUERS, ISSUERS.c.id == OFFERINGS.c.issuer_id).join(totals, true())
        )
        .where(OFFERINGS.c[by] == bindparam(by), visible_where(rule))
    )


async def list_offering_relations(
    reads: raw_reads.Reads, *, offering_ids: Sequence[int]
) -> dict[int, tuple[IssuerFields | None, OfferingTotals]]:
    """The issuer and totals of each offering (visible already: a page's), in one statement;
    an id that is not an offering is left out."""
    values = {"ids": list(offering_ids), "committed": COMMITTED}
    rows = await raw_reads.fetch_fixed(reads, ("offering relations",), _relations_statement, values)
    return {row.id: (_issuer_of(row), _totals_of(row)) for row in rows}


def _relations_statement() -> Select[Any]:
    totals = _totals()
    return (
        select(OFFERINGS.c.id, *_issuer_columns(), *totals.c)
        .select_from(
            OFFERINGS.outerjoin(ISSUERS, ISSUERS.c.id == OFFERINGS.c.issuer_id).join(totals, true())
        )
        # One array, not an IN list: the SQL text stays the same whatever the page's size.
        .where(OFFERINGS.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    )


_ISSUER_FIELDS = ("id", "name", "country", "website")


def _totals() -> LateralFromClause:
    """Committed investments of the offering on the left, aggregated (one row, even zero);
    the committed states are the parameter `committed` (COMMITTED)."""
    return (
        select(
            func.count(INVESTMENTS.c.id).label("investments_count"),
            func.count(distinct(INVESTMENTS.c.investor_id)).label("investors_count"),
            func.sum(INVESTMENTS.c.amount).label("amount_committed"),
        )
        .where(
            INVESTMENTS.c.offering_id == OFFERINGS.c.id,
            INVESTMENTS.c.state == any_(bindparam("committed", type_=ARRAY(String))),
        )
        .lateral("totals")
    )


def _issuer_columns() -> list[Label[Any]]:
    # Prefixed: the offerings table has an `issuer_id` of its own.
    return [ISSUERS.c[name].label(f"issuer__{name}") for name in _ISSUER_FIELDS]


def _issuer_of(row: Row[Any]) -> IssuerFields | None:
    fields = row._mapping
    if fields["issuer__id"] is None:
        return None
    return IssuerFields(**{name: fields[f"issuer__{name}"] for name in _ISSUER_FIELDS})


def _totals_of(row: Row[Any]) -> OfferingTotals:
    fields = row._mapping
    return OfferingTotals(
        int(fields["investments_count"]),
        int(fields["investors_count"]),
        Decimal(fields["amount_committed"] or 0),
    )

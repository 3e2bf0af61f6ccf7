"""A page of offerings as the caller may see them, its statement built once per shape.

The conditions are those of dpo.services.offerings.filtered (visibility, then each filter in
its order) with every value a named parameter, so one statement serves every caller under a
visibility rule with the same filters; the keyset conditions are paginate's
(dpo.services.fixed_pages). Same rows, cursors, pageInfo and errors as paginate over
`filtered`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, String, bindparam, func, or_, select

from dpo.auth.principal import Principal
from dpo.db import raw_reads
from dpo.db.models import Offering
from dpo.services.fixed_pages import fixed_page
from dpo.services.offerings import (
    OFFERINGS,
    OfferingFilter,
    OfferingSort,
    ordering,
    search_pattern,
    visibility,
    visible_where,
)
from dpo.services.pagination import Page


async def list_offerings(
    reads: raw_reads.Reads,
    *,
    principal: Principal,
    filter: OfferingFilter | None = None,
    order_by: OfferingSort = OfferingSort.CREATED_AT,
    descending: bool = False,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    with_count: bool = False,
) -> Page:
    """One page of the offerings the caller may see, as rows of the offerings table.

    `with_count`: the rows also carry how many match in all (`counted`), computed once in
    the page's own statement (an uncorrelated subquery): one round trip, not two. Built once
    per shape (visibility rule, which filters, the count) with named parameters, the keyset
    conditions as `paginate` writes them (dpo.services.fixed_pages).
    """
    rule, values = visibility(principal)
    given = _filter_values(filter, values)
    # The count's subquery has its filters' own parameters, as `filtered` twice gave them
    # (the visibility rule's named ones are shared, as they were).
    for name in [*given, "isin_search"] if "search" in given else given:
        values[name + "_c"] = values[name]
    return await fixed_page(
        reads,
        ("offerings", rule, given, with_count),
        lambda: _page_base(rule, given, with_count),
        values,
        ordering=ordering(order_by, descending=descending),
        first=first,
        after=after,
        last=last,
        before=before,
    )


def _filter_values(where: OfferingFilter | None, values: dict[str, Any]) -> tuple[str, ...]:
    """The filters given, in `filtered`'s order, their values put in `values` by name."""
    if where is None:
        return ()
    given = {
        "status": where.status,
        "issuer_id": where.issuer_id,
        "regulation": where.regulation,
        "currency": where.currency,
        "token_address": None if where.token_address is None else where.token_address.lower(),
        "onchain_offering_id": where.onchain_offering_id,
        "search": search_pattern(where.search) if where.search else None,
    }
    found = {name: value for name, value in given.items() if value is not None}
    values.update(found)
    if "search" in found:  # the pattern is compared twice, each its own parameter as in filtered
        values["isin_search"] = found["search"]
    return tuple(found)


def _conditions(rule: str, given: tuple[str, ...], tag: str) -> list[ColumnElement[bool]]:
    """`filtered`'s conditions with named parameters (the filters' names ending in `tag`)."""
    conditions = [visible_where(rule)]
    for name in given:
        param: BindParameter[Any] = bindparam(name + tag)
        if name == "token_address":
            # lower() has no type of its own: the value's (as a plain string's) is the bind's.
            conditions.append(
                func.lower(Offering.token_address) == bindparam(name + tag, type_=String())
            )
        elif name == "search":
            conditions.append(
                or_(
                    Offering.name.ilike(param, escape="\\"),
                    Offering.isin.ilike(bindparam("isin_search" + tag), escape="\\"),
                )
            )
        else:
            conditions.append(getattr(Offering, name) == param)
    return conditions


def _page_base(rule: str, given: tuple[str, ...], with_count: bool) -> Select[Any]:
    statement = (
        select(Offering).where(*_conditions(rule, given, "")).with_only_columns(*OFFERINGS.c)
    )
    if not with_count:
        return statement
    everything = select(Offering).where(*_conditions(rule, given, "_c")).subquery()
    return statement.add_columns(
        select(func.count()).select_from(everything).scalar_subquery().label("_count")
    )

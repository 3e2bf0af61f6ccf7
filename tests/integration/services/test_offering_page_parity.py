"""An offerings page built once per shape (dpo.services.offering_pages over fixed_pages) sends
the same SQL with the same values as paginate over `filtered` did, so its rows, cursors,
pageInfo and errors are the same: every visibility rule, filter, ordering and cursor."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.models import Issuer
from dpo.errors import DomainError
from dpo.services import offering_pages, offerings
from dpo.services.offerings import OfferingFilter, OfferingSort
from dpo.services.pagination import Page, paginate
from tests.integration.services.support import (
    admin,
    issuer_staff,
    make_investor,
    make_offering,
    now,
)

OWN_ISSUER_INTEGER = re.compile(r"(offerings\.issuer_id = \$\d+)::INTEGER")


async def previous_list_offerings(
    session: AsyncSession,
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
    """`offerings.list_offerings` as it was: the statement built and paginated per request."""
    statement = offerings.filtered(principal, filter).with_only_columns(*offerings.OFFERINGS.c)
    if with_count:
        everything = offerings.filtered(principal, filter).subquery()
        statement = statement.add_columns(
            select(func.count()).select_from(everything).scalar_subquery().label("_count")
        )
    return await paginate(
        session,
        statement,
        as_rows=True,
        ordering=offerings.ordering(order_by, descending=descending),
        first=first,
        after=after,
        last=last,
        before=before,
    )


def plain(page: Page) -> Any:
    return (
        [tuple((type(v).__name__, v) for v in row) for row in page.rows],
        page.cursors,
        page.has_next_page,
        page.has_previous_page,
    )


async def seed(db: AsyncSession) -> tuple[int, str]:
    """Offerings of two issuers: every status, equal names and dates, null opening dates."""
    first_issuer, second_issuer = Issuer(name="One", country="CH"), Issuer(name="Two", country="DE")
    start = now()
    statuses = ["open", "open", "closed", "draft", "settled", "open", "open", "closed"]
    for n, status in enumerate(statuses):
        await make_offering(
            db,
            issuer=first_issuer if n % 2 else second_issuer,
            status=status,
            name=f"Fund {n % 3} 50%_off",
            opens_at=None if n % 3 == 0 else start - timedelta(days=n % 2),
            currency="EUR" if n % 4 == 0 else "USD",
            regulation="reg_s" if n % 3 == 1 else "reg_d_506b",
            token_address="0x" + "Ab" * 20 if n == 1 else f"0x{n:040x}",
            onchain_offering_id=n + 1 if n % 2 else None,
        )
    await db.flush()
    assert first_issuer.id is not None
    return first_issuer.id, "0X" + "aB" * 20


async def test_same_statements_values_and_pages_as_paginate(db: AsyncSession) -> None:
    own_issuer, token = await seed(db)
    _, investor = await make_investor(db)
    principals = [ANONYMOUS, investor, issuer_staff(own_issuer), admin()]
    filters = [
        None,
        OfferingFilter(status="open"),
        OfferingFilter(issuer_id=own_issuer, currency="USD"),
        OfferingFilter(regulation="reg_s", onchain_offering_id=2),
        OfferingFilter(token_address=token),
        OfferingFilter(search=" 50%_"),
        OfferingFilter(search="fund 1", status="open", issuer_id=own_issuer),
        OfferingFilter(search=""),
    ]
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def record(_c: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        # One intended difference: the issuer rule's id is typed by its column (as the detail
        # read's is) where the value bound into the previous statement made it an INTEGER.
        sent.append((OWN_ISSUER_INTEGER.sub(r"\1::BIGINT", sql), tuple(params)))

    engine = db.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", record)
    compared = 0
    try:
        # Every rule, ordering, direction and count without filters; each filter under every
        # rule, both ways of the ordering with a nullable key.
        cases = [
            (principal, None, sort, descending, with_count)
            for principal, sort, descending, with_count in itertools.product(
                principals, list(OfferingSort), (False, True), (False, True)
            )
        ] + [
            (principal, where, OfferingSort.OPENS_AT, descending, descending)
            for principal, where, descending in itertools.product(
                principals, filters[1:], (False, True)
            )
        ]
        for principal, where, sort, descending, with_count in cases:
            common: dict[str, Any] = {
                "principal": principal,
                "filter": where,
                "order_by": sort,
                "descending": descending,
                "with_count": with_count,
            }
            start = await previous_list_offerings(db, first=3, **common)
            windows: list[dict[str, Any]] = [{"first": 3}, {"last": 2}, {"first": 0}]
            if start.cursors:
                windows += [
                    {"first": 2, "after": start.cursors[-1]},
                    {"last": 2, "before": start.cursors[-1]},
                    {"first": 5, "after": start.cursors[0], "before": start.cursors[-1]},
                    {"last": 1, "after": start.cursors[0], "before": start.cursors[-1]},
                ]
            for window in windows:
                sent.clear()
                previous = await previous_list_offerings(db, **window, **common)
                theirs = list(sent)
                sent.clear()
                ours = await offering_pages.list_offerings(db, **window, **common)
                assert sent == theirs, (common, window)
                assert plain(ours) == plain(previous), (common, window)
                compared += 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert compared > 500


@pytest.mark.parametrize(
    "window",
    [
        {"first": 101},
        {"first": -1},
        {"first": 1, "after": "garbage"},
        {"first": 1, "before": "garbage"},
        {"last": 1, "before": "eyJvIjoib2ZmZXJpbmc6bmFtZTphc2MiLCJrIjpbMSwyXX0="},
    ],
)
async def test_same_errors(db: AsyncSession, window: dict[str, Any]) -> None:
    await seed(db)
    errors = []
    for read in (previous_list_offerings, offering_pages.list_offerings):
        with pytest.raises(DomainError) as caught:
            await read(db, principal=ANONYMOUS, **window)
        errors.append((type(caught.value), str(caught.value), vars(caught.value)))
    assert errors[0] == errors[1]

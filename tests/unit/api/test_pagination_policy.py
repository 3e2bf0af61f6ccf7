"""Cursors, page sizes and permission helpers: pure logic."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import column

from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.errors import ForbiddenError, UnauthenticatedError, ValidationError
from dpo.services import policy
from dpo.services.pagination import (
    Ordering,
    PageSizeExceededError,
    SortKey,
    decode_cursor,
    encode_cursor,
    page_size,
)
from schema.relay import from_global_id, to_global_id

BY_NAME = Ordering(name="thing:name", keys=(SortKey(column("name")), SortKey(column("id"))))
BY_DATE = Ordering(
    name="thing:date", keys=(SortKey(column("at"), nullable=True), SortKey(column("id")))
)


def test_cursor_round_trips_typed_values() -> None:
    at = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    cursor = encode_cursor(BY_DATE.name, [False, at, 7])
    assert decode_cursor(BY_DATE, cursor) == [False, at, 7]
    cursor = encode_cursor(BY_NAME.name, [decimal.Decimal("1.50"), 3])
    assert decode_cursor(BY_NAME, cursor) == [decimal.Decimal("1.50"), 3]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"o":"thing:name","k":[1]}').decode(),
        base64.urlsafe_b64encode(b'{"o":"thing:name","k":[[1],2]}').decode(),
        encode_cursor("thing:date", ["a", 1]),
    ],
)
def test_foreign_or_broken_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ValidationError):
        decode_cursor(BY_NAME, cursor)


def test_page_size_limits() -> None:
    assert page_size(None) == 20
    assert page_size(0) == 0
    assert page_size(100) == 100
    with pytest.raises(PageSizeExceededError) as caught:
        page_size(101)
    assert caught.value.code == "LIMIT_EXCEEDED"
    with pytest.raises(ValidationError):
        page_size(-1)


def test_global_ids() -> None:
    gid = to_global_id("Offering", 42)
    assert from_global_id(gid) == ("Offering", 42)
    assert from_global_id(gid, expect="Offering") == ("Offering", 42)
    for bad in (
        "",
        "%%%",
        base64.b64encode(b"Offering:x").decode(),
        base64.b64encode(b"Offering:-1").decode(),
        to_global_id("Issuer", 1),
    ):
        with pytest.raises(ValidationError):
            from_global_id(bad, expect="Offering")


def staff(role: str, issuer_id: int | None = None) -> Principal:
    return Principal(kind=Kind.STAFF, role=role, user_id=1, issuer_id=issuer_id)


def test_require_role_and_authentication() -> None:
    with pytest.raises(UnauthenticatedError):
        policy.require_authenticated(ANONYMOUS)
    with pytest.raises(UnauthenticatedError):
        policy.require_role(ANONYMOUS, policy.ADMIN)
    with pytest.raises(ForbiddenError):
        policy.require_role(staff("ops"), policy.ADMIN, policy.ISSUER)
    assert policy.require_role(staff("admin"), policy.ADMIN).role == "admin"
    # A role string on an unauthenticated principal grants nothing.
    assert not policy.has_role(Principal(role="admin"), policy.ADMIN)


def test_can_manage_offering() -> None:
    offering = SimpleNamespace(issuer_id=5)
    assert policy.can_manage_offering(staff("admin"), offering)
    assert policy.can_manage_offering(staff("issuer", 5), offering)
    assert not policy.can_manage_offering(staff("issuer", 6), offering)
    assert not policy.can_manage_offering(staff("ops"), offering)
    assert not policy.can_manage_offering(ANONYMOUS, offering)
    with pytest.raises(ForbiddenError):
        policy.require_manage_offering(staff("issuer", 6), offering)
    with pytest.raises(UnauthenticatedError):
        policy.require_manage_offering(ANONYMOUS, offering)

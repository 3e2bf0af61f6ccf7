"""The error style: domain codes, VALIDATION for bad documents and scalars, INTERNAL masked."""

from __future__ import annotations

import decimal
import logging
from functools import partial

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig

from app.graphql.schema import build_schema
from dpo.errors import ConflictError
from schema.errors import ErrorFormatter
from schema.root import DpoSchema
from schema.scalars import ISIN, SCALARS


@strawberry.type
class Probe:
    @strawberry.field
    def conflict(self) -> int:
        raise ConflictError("offering is not a draft", status="open")

    @strawberry.field
    def boom(self) -> int:
        raise RuntimeError("SELECT secret FROM vault -- password=hunter2")

    @strawberry.field
    def missing(self) -> int:
        return None  # type: ignore[return-value]

    @strawberry.field
    def limited(self) -> int:
        raise GraphQLError("too deep", extensions={"code": "LIMIT_EXCEEDED"})

    @strawberry.field
    def isin(self, value: ISIN) -> str:
        return value

    @strawberry.field
    def amount(self, value: decimal.Decimal) -> decimal.Decimal:
        return value


def probe_schema(*, debug: bool) -> strawberry.Schema:
    return DpoSchema(
        query=Probe,
        extensions=[partial(ErrorFormatter, debug=debug)],
        config=StrawberryConfig(scalar_map=SCALARS),
    )


async def test_domain_error_carries_code_and_details() -> None:
    result = await probe_schema(debug=False).execute("{ conflict }")
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "offering is not a draft"
    assert error.extensions == {"code": "CONFLICT", "status": "open"}


async def test_unexpected_error_is_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="schema.errors"):
        result = await probe_schema(debug=False).execute("{ boom }")
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "Internal server error"
    assert error.extensions == {"code": "INTERNAL"}
    assert "hunter2" not in str(error.formatted)
    assert any(r.exc_info for r in caplog.records)


async def test_unexpected_error_shown_in_debug() -> None:
    result = await probe_schema(debug=True).execute("{ boom }")
    assert result.errors is not None
    assert "SELECT" in result.errors[0].message
    assert result.errors[0].extensions == {"code": "INTERNAL"}


@pytest.mark.parametrize(
    "query",
    [
        '{ isin(value: "US0378331006") }',
        "{ amount(value: 1.5) }",
        '{ amount(value: "1e5") }',
        "{ nope }",
        "{ conflict",
    ],
)
async def test_bad_documents_and_literals_are_validation(query: str) -> None:
    result = await probe_schema(debug=False).execute(query)
    assert result.errors is not None
    assert all(e.extensions == {"code": "VALIDATION"} for e in result.errors)
    assert result.data is None


async def test_bad_scalar_variable_is_validation_with_reason() -> None:
    result = await probe_schema(debug=False).execute(
        "query($v: ISIN!) { isin(value: $v) }", variable_values={"v": "US0378331006"}
    )
    assert result.errors is not None
    [error] = result.errors
    assert error.extensions == {"code": "VALIDATION"}
    assert "check digit" in error.message


async def test_good_scalars_round_trip() -> None:
    result = await probe_schema(debug=False).execute(
        'query($v: ISIN!) { isin(value: $v) amount(value: "0012.50") }',
        variable_values={"v": "us0378331005"},
    )
    assert result.errors is None
    assert result.data == {"isin": "US0378331005", "amount": "12.5"}


async def test_node_with_malformed_id_is_validation() -> None:
    result = await build_schema(debug=False).execute('{ node(id: "not-base64!") { id } }')
    assert result.errors is not None
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["code"] == "VALIDATION"


async def test_null_in_non_null_field_is_internal() -> None:
    result = await probe_schema(debug=False).execute("{ missing }")
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "INTERNAL"}
    assert result.errors[0].message == "Internal server error"


async def test_error_already_carrying_a_code_keeps_it() -> None:
    result = await probe_schema(debug=False).execute("{ limited }")
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "LIMIT_EXCEEDED"}
    assert result.errors[0].message == "too deep"

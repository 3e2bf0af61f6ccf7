"""Extensions built once per schema (schema.shared_extension) serve concurrent operations
without mixing them up; the one with state of its own is still built per operation."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import strawberry
from strawberry.types import ExecutionContext, Info

from dpo.errors import ConflictError
from schema.budget import QueryBudget, Spent
from schema.errors import ErrorFormatter
from schema.inputs import TextVariables
from schema.limits import Limits, TokenLimit, limit_extensions
from schema.root import DpoSchema
from schema.shared_extension import SharedExtension


@dataclass
class Caller:
    """A request's context: who calls, their budget, whether their resolver fails."""

    name: str
    budget_left: int
    fails: bool
    both_running: asyncio.Event
    arrived: list[str] = field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field
    async def whoami(self, info: Info) -> str:
        caller: Caller = info.context
        caller.arrived.append(caller.name)
        # Both operations are inside execution, past every hook of parse and validation,
        # before either finishes: their hooks interleave on the same shared objects.
        if len(caller.arrived) == 2:
            caller.both_running.set()
        await asyncio.wait_for(caller.both_running.wait(), 5)
        if caller.fails:
            raise ConflictError(f"{caller.name} refused")
        return caller.name


async def meter(execution: ExecutionContext, cost: int) -> Spent:
    caller: Caller = execution.context
    await asyncio.sleep(0)  # let the other operation run its hooks in between
    return Spent(allowed=True, remaining=caller.budget_left - cost, per_minute=100)


def make_schema() -> DpoSchema:
    return DpoSchema(
        query=Query,
        extensions=[
            *limit_extensions(production=True, limits=Limits(), meter=meter),
            TextVariables,
            partial(ErrorFormatter, debug=False),
        ],
    )


async def test_concurrent_operations_keep_their_own_budget_and_errors() -> None:
    schema = make_schema()
    event, arrived = asyncio.Event(), list[str]()
    alice = Caller("alice", budget_left=90, fails=False, both_running=event, arrived=arrived)
    bob = Caller("bob", budget_left=7, fails=True, both_running=event, arrived=arrived)
    first, second = await asyncio.gather(
        schema.execute("{ whoami }", context_value=alice),
        schema.execute("query Bob { whoami }", context_value=bob),
    )
    assert sorted(arrived) == ["alice", "bob"]
    assert first.errors is None
    assert first.data == {"whoami": "alice"}
    assert first.extensions is not None
    assert first.extensions["cost"]["remaining"] == 90 - first.extensions["cost"]["requested"]
    assert second.data is None
    assert second.errors is not None
    assert [(e.message, e.extensions) for e in second.errors] == [
        ("bob refused", {"code": "CONFLICT"})
    ]
    assert second.extensions is not None
    assert second.extensions["cost"]["remaining"] == 7 - second.extensions["cost"]["requested"]


def test_shared_extensions_are_built_once_and_the_budget_per_operation() -> None:
    schema = make_schema()
    first, second = schema.get_extensions(), schema.get_extensions()
    shared = [e for e in first if isinstance(e, SharedExtension)]
    assert {type(e).__name__ for e in shared} >= {
        "TokenLimit",
        "ParseCache",
        "ValidationRules",
        "ExecutionTimeLimit",
        "LimitErrors",
        "TextVariables",
        "ErrorFormatter",
    }
    assert all(a is b for a, b in zip(first, second, strict=True) if a in shared)
    budgets = [e for e in first + second if isinstance(e, QueryBudget)]
    assert len(budgets) == 2
    assert budgets[0] is not budgets[1]


def test_a_shared_extension_holds_no_operation() -> None:
    limit = TokenLimit(max_tokens=10)
    limit.execution_context = object()  # as Strawberry sets it
    with pytest.raises(AttributeError, match="shared by every operation"):
        _ = limit.execution_context


def test_setting_a_shared_extensions_context_runs_no_python_function() -> None:
    """Strawberry sets it on every extension of every operation: it must cost no call."""
    limit = TokenLimit(max_tokens=10)
    calls: list[str] = []

    def watch(frame: Any, event: str, _: Any) -> None:
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(watch)
    try:
        limit.execution_context = object()
    finally:
        sys.setprofile(None)
    assert calls == []


async def test_a_plain_strawberry_schema_refuses_shared_extensions() -> None:
    schema = strawberry.Schema(query=Query, extensions=[partial(TokenLimit, max_tokens=10)])
    result = await schema.execute("{ __typename }")
    assert result.errors is not None
    assert "use it in a DpoSchema" in result.errors[0].message

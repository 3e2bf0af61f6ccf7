"""Subscription payloads executed once per operation and feed item, shared by its subscribers.

Thousands of subscribers of the same operation receive the same feed item. Without sharing,
each of them runs the operation's selection set (and builds the item's GraphQL object) for
it. A resolver that yields a `SharedEvent` instead lets `SharedExecutor` run the selection set
once per distinct (document, operation, variables, permission scope) and item: the first
subscriber to reach the item executes it and stores the result in the item's memo, the others
reuse it. The memo lives on the feed item the hub hands to every live subscriber, so it is
freed with the item; replayed items are each subscriber's own, and a result with errors is
never shared. Per-subscriber state (cursor, filter, queue, permission checks at subscribe
time) stays in the subscriber: only identical work is shared.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from typing import Any

from graphql import ExecutionResult, print_ast
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from dpo.auth.principal import Principal
from dpo.streaming import metrics


class SharedEvent:
    """A subscription event whose root value is built and executed once per operation."""

    __slots__ = ("build", "memo", "scope")

    def __init__(self, *, memo: dict[Hashable, Any], build: Callable[[], object],
                 scope: Hashable) -> None:
        self.memo = memo
        self.build = build
        self.scope = scope


def permission_scope(principal: Principal) -> Principal:
    """What permission checks look at: the principal without the names of the actor."""
    return replace(principal, user_id=None, api_key_prefix=None)


def operation_key(executor: StrawberryGraphQLCoreExecutionContext) -> str:
    """The operation, its fragments and its coerced variables, in one canonical text."""
    fragments = sorted(executor.fragment_definitions.items())
    document = "\n".join([print_ast(executor.operation),
                          *(print_ast(node) for _, node in fragments)])
    variables = json.dumps(executor.variable_values.coerced, sort_keys=True, default=repr)
    return f"{document}\n{variables}"


class SharedExecutor(StrawberryGraphQLCoreExecutionContext):
    """The schema's executor: executes a `SharedEvent` once per operation and scope."""

    share_key: str | None = None

    def build_per_event_executor(self, payload: Any) -> SharedExecutor:
        """Compute the operation's key once, before the per-event copies are made."""
        if isinstance(payload, SharedEvent) and self.share_key is None:
            self.share_key = operation_key(self)
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, SharedExecutor)
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        """The shared result of the event if another subscriber computed it, else execute."""
        payload = self.root_value
        if not isinstance(payload, SharedEvent) or self.share_key is None:
            return super().execute_operation(serially)
        key = (self.share_key, payload.scope)
        done = payload.memo.get(key)
        if done is not None:
            metrics.SHARED_FRAMES.inc()
            return done
        metrics.FRAME_EXECUTIONS.inc()
        self.root_value = payload.build()
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return _remember_later(result, payload.memo, key)
        _remember(result, payload.memo, key)
        return result


def _remember(result: Any, memo: dict[Hashable, Any], key: Hashable) -> None:
    if isinstance(result, ExecutionResult) and not result.errors:
        memo[key] = result


async def _remember_later(pending: Awaitable[Any], memo: dict[Hashable, Any],
                          key: Hashable) -> Any:
    result = await pending
    _remember(result, memo, key)
    return result

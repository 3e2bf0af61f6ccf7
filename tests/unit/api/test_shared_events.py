"""Shared subscription execution: once per operation, variables, scope and item."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Hashable
from functools import partial
from typing import Any, cast

import strawberry
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from dpo.auth.principal import Kind, Principal
from schema.shared_events import (
    EncodedData,
    SharedEvent,
    SharedExecutor,
    encode_message,
    permission_scope,
)

BUILT: list[int] = []


@strawberry.type
class Item:
    id: int
    label: str

    @strawberry.field
    def checked(self) -> str:
        if self.id < 0:
            raise ValueError("negative")
        return f"{self.label}!"


def build(number: int) -> Item:
    BUILT.append(number)
    return Item(id=number, label=f"item {number}")


# The feed's items, each with the memo every subscriber of it sees.
MEMOS: dict[int, dict[Hashable, Any]] = {}


@strawberry.type
class Query:
    ping: str = "pong"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def items(
        self, info: strawberry.Info, numbers: list[int], shared: bool = True
    ) -> AsyncGenerator[Item]:
        scope = info.context["scope"]
        for number in numbers:
            if shared:
                yield cast(
                    "Item",
                    SharedEvent(
                        memo=MEMOS.setdefault(number, {}), build=partial(build, number), scope=scope
                    ),
                )
            else:
                yield build(number)


schema = strawberry.Schema(
    query=Query, subscription=Subscription, execution_context_class=SharedExecutor
)
QUERY = (
    "subscription($n: [Int!]!, $label: Boolean! = true) { items(numbers: $n) "
    "{ id label @include(if: $label) checked } }"
)


async def run(
    query: str = QUERY, scope: str = "a", **variables: Any
) -> list[ExecutionResult | PreExecutionError]:
    stream = await schema.subscribe(
        query, variable_values=variables, context_value={"scope": scope}
    )
    return [result async for result in stream]


def setup_function() -> None:
    BUILT.clear()
    MEMOS.clear()


async def test_subscribers_of_one_operation_share_each_item() -> None:
    first = await run(n=[1, 2, 3])
    second = await run(n=[1, 2, 3])
    assert BUILT == [1, 2, 3]  # built and executed once per item
    assert (
        [r.data for r in first]
        == [r.data for r in second]
        == [{"items": {"id": n, "label": f"item {n}", "checked": f"item {n}!"}} for n in (1, 2, 3)]
    )
    assert all(isinstance(r.data, EncodedData) for r in first + second)


async def test_other_payload_variables_scopes_or_documents_execute_again() -> None:
    await run(n=[1, 2])
    await run(n=[1, 2], scope="b")  # another permission scope
    await run(n=[1, 2], label=False)  # a variable of the payload
    await run(QUERY.replace("checked }", "checked id }"), n=[1, 2])  # another document
    assert BUILT == [1, 2] * 4


async def test_root_arguments_choose_items_and_share_their_payloads() -> None:
    first = await run(n=[1, 2])
    second = await run(n=[2, 3])  # the root field's own arguments
    assert BUILT == [1, 2, 3]
    assert first[1].data == second[0].data


async def test_results_with_errors_are_never_shared() -> None:
    first = await run(n=[-1])
    second = await run(n=[-1])
    assert BUILT == [-1, -1]
    assert first[0].errors
    assert second[0].errors
    assert MEMOS[-1] == {}


async def test_plain_events_are_executed_as_usual() -> None:
    query = "subscription { items(numbers: [4, 4], shared: false) { id } }"
    results = await run(query)
    assert [r.data for r in results] == [{"items": {"id": 4}}] * 2
    assert BUILT == [4, 4]
    assert not any(isinstance(r.data, EncodedData) for r in results)


def test_frames_splice_the_shared_data_with_each_id() -> None:
    data = EncodedData({"events": {"cursor": "7", "node": {"args": {"to": 'é"x'}}}})
    for kind in ("next", "data"):
        for op_id in ("1", 'quote"and\\slash', "ünï"):
            message = {"id": op_id, "type": kind, "payload": {"data": data}}
            assert json.loads(encode_message(message)) == json.loads(json.dumps(message))


def test_other_messages_are_encoded_as_strawberry_does() -> None:
    plain = {"id": "1", "type": "next", "payload": {"data": {"x": 1}}}
    with_errors = {
        "id": "1",
        "type": "next",
        "payload": {"data": EncodedData({"x": 1}), "errors": [{"message": "m"}]},
    }
    for message in (plain, with_errors, {"type": "connection_ack"}, [1, 2]):
        assert encode_message(message) == json.dumps(message, separators=(",", ":"))


def test_the_permission_scope_ignores_who_the_actor_is() -> None:
    one = Principal(kind=Kind.STAFF, role="admin", user_id=1)
    other = Principal(kind=Kind.STAFF, role="admin", user_id=2, api_key_prefix="ab12")
    issuer = Principal(kind=Kind.STAFF, role="issuer", user_id=1, issuer_id=5)
    wallet = Principal(kind=Kind.WALLET, role="investor", investor_id=1, address="0xa")
    assert permission_scope(one) == permission_scope(other)
    assert len({permission_scope(p) for p in (one, issuer, wallet)}) == 3

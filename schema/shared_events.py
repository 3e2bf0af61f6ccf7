"""Subscription payloads executed once per operation and feed item, shared by its subscribers.

Thousands of subscribers of the same operation receive the same feed item. Without sharing,
each of them runs the operation's selection set (and builds the item's GraphQL object) for
it. A resolver that yields a `SharedEvent` instead lets `SharedExecutor` run the selection set
once per distinct (document, operation, variables of the payload, permission scope) and item:
the first subscriber to reach the item executes it and stores the result in the item's memo,
the others reuse it. The root field's arguments (a filter, a cursor) only choose which items
a subscriber gets, so subscribers that differ in them share the payloads of the items they
have in common. The memo lives on the feed item the hub hands to every live subscriber, so it
is freed with the item; replayed items are each subscriber's own, and a result with errors is
never shared. Per-subscriber state (cursor, filter, queue, permission checks at subscribe
time) stays in the subscriber: only identical work is shared.

A shared result's data is encoded to JSON once too (`EncodedData`); `encode_message`, the
transport's encoder, splices it into each subscriber's frame, so only the operation id is
encoded per subscriber.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from json.encoder import encode_basestring_ascii as encode_string
from typing import Any, Protocol

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    Node,
    OperationDefinitionNode,
    VariableNode,
    print_ast,
)

from dpo.auth.principal import Principal
from dpo.streaming import metrics
from dpo.streaming.batch import Incrementable
from schema.plain_objects import PlainObjectExecutor

SEPARATORS = (",", ":")
FRAME_TYPES = frozenset({"next", "data"})


class EncodedData(dict[str, Any]):
    """A shared result's data, with its JSON text computed once."""

    __slots__ = ("encoded", "raw")

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.encoded = json.dumps(data, separators=SEPARATORS)
        # UTF-8, for frames written as bytes (schema.direct_frames); json.dumps is ASCII.
        self.raw = self.encoded.encode()


def encode_message(message: object) -> str:
    """JSON of a transport message; a shared payload's data is spliced in, not re-encoded."""
    if type(message) is dict and len(message) == 3:
        payload, op_id, kind = message.get("payload"), message.get("id"), message.get("type")
        if (
            type(payload) is dict
            and len(payload) == 1
            and type(op_id) is str
            and kind in FRAME_TYPES
        ):
            data = payload.get("data")
            if type(data) is EncodedData:
                return frame_prefix(op_id, kind) + data.encoded + "}}"
    return json.dumps(message, separators=SEPARATORS)


def frame_prefix(op_id: str, kind: str) -> str:
    """A result frame up to its data, keys in the order json.dumps writes the transport's dict.

    graphql-transport-ws sends `{"id", "type": "next", "payload"}`, graphql-ws
    `{"type": "data", "id", "payload"}`; the frame is the prefix, the data and `}}`.
    """
    if kind == "next":
        return f'{{"id":{encode_string(op_id)},"type":"next","payload":{{"data":'
    return f'{{"type":"{kind}","id":{encode_string(op_id)},"payload":{{"data":'


class FrameSink(Protocol):
    """Where a subscription operation's shared frames go without Strawberry's per-result path.

    Handed to each operation by the WebSocket transport (app.subscriptions.ws_frames, through
    Context.use_frame_sink); `send` returns False, sending nothing, once the operation is over
    (completed, stopped, socket gone).
    """

    async def send(self, data: EncodedData) -> bool:
        """Write the operation's frame of this shared data to its socket."""
        ...

    @property
    def direct(self) -> bool:
        """Whether `write_now` can ever write (schema.direct_frames)."""
        ...

    @property
    def counter(self) -> Incrementable:
        """The transport's count of frames `write_now` wrote (added by the fan-out's tally)."""
        ...

    def write_now(self, data: EncodedData) -> bool:
        """Write the frame synchronously; False, writing nothing, when `send` would wait."""
        ...


class Binder(Protocol):
    """Takes the executor of a subscription that executed a shared event (direct_frames)."""

    def bind(self, executor: SharedExecutor) -> None:
        """Keep the executor to execute later items of the same operation with it."""


def shared_data(memo: dict[Hashable, Any], key: Hashable) -> EncodedData | None:
    """The encoded data of an item's shared result for this key, if one was computed."""
    done = memo.get(key)
    if done is None or done.extensions:
        return None
    data = done.data
    return data if type(data) is EncodedData else None


class SharedEvent:
    """A subscription event whose root value is built and executed once per operation.

    `build` must depend on nothing but the item whose `memo` this is and on `scope`: the
    root field's arguments (a filter, a cursor) decide which items a subscriber gets, not
    what an item's payload is, so subscribers that differ only in them share it.
    """

    __slots__ = ("binder", "build", "memo", "scope")

    def __init__(
        self,
        *,
        memo: dict[Hashable, Any],
        build: Callable[[], object],
        scope: Hashable,
        binder: Binder | None = None,
    ) -> None:
        self.memo = memo
        self.build = build
        self.scope = scope
        # Told the subscription's executor when it runs this event (schema.direct_frames).
        self.binder = binder


def permission_scope(principal: Principal) -> Principal:
    """What permission checks look at: the principal without the names of the actor."""
    return replace(principal, user_id=None, api_key_prefix=None)


def operation_key(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> str:
    """The document, the operation's name and the (coerced) variables its payload depends on."""
    cached = _SHAPES.get(id(operation))
    if cached is None or cached[0] is not operation:
        if len(_SHAPES) >= SHAPES_CACHE_SIZE:
            _SHAPES.clear()
        cached = (operation, *_shape(operation, fragments))
        _SHAPES[id(operation)] = cached
    _, shape, used = cached
    payload = json.dumps(
        {key: value for key, value in variables.items() if used is None or key in used},
        sort_keys=True,
        default=repr,
    )
    return f"{shape}\n{payload}"


# Per parsed operation (the parser cache hands one document to every subscriber of a query
# text): its text and payload variables, so a subscriber's first event does not walk the AST.
SHAPES_CACHE_SIZE = 1024
_SHAPES: dict[int, tuple[OperationDefinitionNode, str, set[str] | None]] = {}


def _shape(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[str, set[str] | None]:
    loc = operation.loc
    if loc is not None:
        # The whole document as sent (it holds the operation and its fragments): cheap.
        document = loc.source.body
    else:
        document = "\n".join(
            [print_ast(operation), *(print_ast(node) for _, node in sorted(fragments.items()))]
        )
    name = operation.name.value if operation.name is not None else ""
    return f"{document}\n{name}", payload_variables(operation, fragments)


def payload_variables(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> set[str] | None:
    """Variables used anywhere but in the root field's arguments (None: cannot tell)."""
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    root = roots[0]
    used: set[str] = set()
    _collect(operation.directives, used)
    _collect(root.directives, used)
    _collect(root.selection_set, used)
    for fragment in fragments.values():
        _collect(fragment, used)
    return used


def _collect(node: object, used: set[str]) -> None:
    if isinstance(node, VariableNode):
        used.add(node.name.value)
    elif isinstance(node, Node):
        for key in node.keys:
            if key != "loc":
                _collect(getattr(node, key), used)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _collect(child, used)


class SharedExecutor(PlainObjectExecutor):
    """The schema's executor: executes a `SharedEvent` once per operation and scope.

    Plain scalar fields and objects made of them take schema.plain_fields' and
    schema.plain_objects' short ways.
    """

    share_key: str | None = None

    def build_per_event_executor(self, payload: Any) -> SharedExecutor:
        """The executor of one event; a shared event already executed needs no copy."""
        if isinstance(payload, SharedEvent):
            if self.share_key is None:
                # Computed once, before the per-event copies are made.
                self.share_key = operation_key(
                    self.operation, self.fragment_definitions, self.variable_values.coerced
                )
            if payload.binder is not None:
                payload.binder.bind(self)
            done = payload.memo.get((self.share_key, payload.scope))
            if done is not None:
                metrics.SHARED_FRAMES.inc()
                return _Done(done)
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
        if done is not None:  # another subscriber finished it since this copy was made
            metrics.SHARED_FRAMES.inc()
            return done
        metrics.FRAME_EXECUTIONS.inc()
        self.root_value = payload.build()
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return _remember_later(result, payload.memo, key)
        return _remember(result, payload.memo, key)


class _Done(SharedExecutor):
    """The per-event executor of an event already executed: returns the shared result."""

    def __init__(self, result: ExecutionResult) -> None:  # no super(): nothing to execute
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> Any:
        """The shared result."""
        return self.result


def _remember(result: Any, memo: dict[Hashable, Any], key: Hashable) -> Any:
    if not isinstance(result, ExecutionResult) or result.errors or result.data is None:
        return result
    try:
        data = EncodedData(result.data)
    except (TypeError, ValueError):  # not JSON: leave it to the transport, unshared
        return result
    shared = ExecutionResult(data, None, result.extensions)
    memo[key] = shared
    return shared


async def _remember_later(pending: Awaitable[Any], memo: dict[Hashable, Any], key: Hashable) -> Any:
    return _remember(await pending, memo, key)

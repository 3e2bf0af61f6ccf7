"""Answer repeated GraphQL queries from the response cache; mutations invalidate it.

The key is (caller, document hash, operationName, variables): the caller is the whole
authenticated Principal (role, user, investor, issuer, wallet, API key, scopes), so two
callers never share an answer. Only queries are stored, only when they ran without errors,
and never when a root field has side effects or shows live values (NO_STORE_FIELDS).
Mutations — over HTTP or WebSocket — invalidate when their operation ends, i.e. after their
unit of work committed and before their answer is sent. Identical requests that arrive while
one is being executed wait for its answer (x-cache: coalesced), so an expiry under load costs
one execution, not one per connection.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Hashable, Iterator
from urllib.parse import parse_qs

import orjson
from graphql import FieldNode, OperationDefinitionNode
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types.execution import ExecutionContext
from strawberry.types.graphql import OperationType

from app.graphql.auth import principal_of
from app.graphql.response_cache import LOOKUPS, CacheInvalidation, Entry
from app.http.negotiation import json_media_type
from app.http.state import known_state, request_state
from dpo.runtime import Runtime
from dpo.safe_json import loads
from schema.shared_extension import SharedExtension

# Root query fields whose answer must be fresh each time: `nonce` creates a single-use
# nonce, `status` probes the database and Redis. A new query with side effects or live
# values belongs here.
NO_STORE_FIELDS = frozenset({"nonce", "status"})
CACHE_HEADER = b"x-cache"
# Extensions that name the client, not what to run (Apollo Client 4's client awareness).
IGNORED_EXTENSIONS = frozenset({"clientLibrary"})
_JSON_PARAMS = frozenset({"variables", "extensions"})
_COUNTED = {
    outcome: LOOKUPS.labels(outcome.decode())
    for outcome in (b"hit", b"coalesced", b"miss", b"bypass")
}


def invalidation_of(scope: Scope) -> CacheInvalidation | None:
    """The application's response cache, if it has one."""
    app = scope.get("app")
    found = getattr(app.state, "response_cache", None) if app is not None else None
    return found if isinstance(found, CacheInvalidation) else None


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


def request_key(scope: Scope, body: bytes) -> tuple[Hashable, ...] | None:
    """(document hash, operationName, variables) of a single query request; None if not one.

    Extensions that only name the client (IGNORED_EXTENSIONS: Apollo Client 4 sends
    `clientLibrary` in every body) are left out of the key; a request with any other
    extension is executed, never answered from the cache (it may change the result).
    """
    accept = _header(scope, b"accept").decode("latin-1")
    if "text/html" in accept or json_media_type(accept) is None:
        return None  # the GraphiQL page, or an answer that is not JSON
    fields: object
    if scope["method"] == "POST":
        if not _header(scope, b"content-type").startswith(b"application/json"):
            return None
        try:
            fields = loads(body)
        except ValueError:
            return None
    elif scope["method"] == "GET":
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            fields = {
                name: values[0] if name not in _JSON_PARAMS else loads(values[0])
                for name, values in params.items()
                if len(values) == 1
            }
        except ValueError:
            return None
    else:
        return None
    if not isinstance(fields, dict):
        return None  # a batch
    query, name = fields.get("query"), fields.get("operationName")
    variables, extensions = fields.get("variables"), fields.get("extensions")
    if (
        not isinstance(query, str)
        or not (name is None or isinstance(name, str))
        or not (variables is None or isinstance(variables, dict))
        or not (extensions is None or isinstance(extensions, dict))
        or any(key not in IGNORED_EXTENSIONS for key in extensions or ())
    ):
        return None
    try:
        encoded = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None  # integers past 64 bits, lone surrogates: executed, never cached
    document = hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return document, name, encoded


async def read_body(receive: Receive) -> bytes:
    """The whole request body (the body-size limit applies as it is read)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then whatever the client sends (its disconnect)."""
    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return once


async def serve_cached(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    invalidation: CacheInvalidation,
    runtime: Runtime,
) -> None:
    """Answer from the cache, or run `app` and store its answer when allowed."""
    cache = invalidation.cache
    body = await read_body(receive)
    key = request_key(scope, body) if cache.healthy else None
    if key is None:
        _COUNTED[b"bypass"].inc()

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (CACHE_HEADER, b"bypass")]
            await send(message)

        await app(scope, replay(body, receive), marked)
        return
    # Raises UnauthenticatedError (and refusals) for the view to answer, as without cache.
    principal = await principal_of(Request(scope, replay(body, receive)), runtime)
    state = request_state(scope)
    full = (principal, *key)
    entry = cache.get(full)
    if entry is not None:
        _COUNTED[b"hit"].inc()
        await _send_entry(send, entry, b"hit")
        return
    waiting = cache.join(full)
    if waiting is not None:
        # The same request is running: its answer, unless it turns out not storable.
        entry = await asyncio.shield(waiting)
        if entry is not None:
            _COUNTED[b"coalesced"].inc()
            await _send_entry(send, entry, b"coalesced")
            return
    _COUNTED[b"miss"].inc()
    ticket = cache.begin()
    state.storable = False  # until the extension finds the executed answer storable
    flight = cache.lead(full, ticket)
    messages: list[Message] = []
    stored: Entry | None = None

    async def keep(message: Message) -> None:
        messages.append(message)

    try:
        await app(scope, replay(body, receive), keep)
        start = messages[0] if messages and messages[0]["type"] == "http.response.start" else None
        if start is not None:
            headers = tuple((bytes(k), bytes(v)) for k, v in start.get("headers", ()))
            answer = [m for m in messages[1:] if m["type"] == "http.response.body"]
            if (
                state.storable
                and start["status"] == 200
                and len(answer) == len(messages) - 1
                and not any(k == b"set-cookie" for k, _ in headers)
            ):
                stored = cache.put(
                    full,
                    ticket,
                    status=200,
                    headers=headers,
                    body=b"".join(m.get("body", b"") for m in answer),
                )
            start["headers"] = [*headers, (CACHE_HEADER, b"miss")]
    finally:
        cache.land(full, flight, stored)
    for message in messages:
        await send(message)


async def _send_entry(send: Send, entry: Entry, outcome: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": entry.status,
            "headers": [*entry.headers, (CACHE_HEADER, outcome)],
        }
    )
    await send({"type": "http.response.body", "body": entry.body})


def _root_fields(execution: ExecutionContext) -> Iterator[FieldNode | None]:
    """The operation's root selections; None for a fragment (not inspected)."""
    document = execution.graphql_document
    if document is None:
        return
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if execution.operation_name is not None and (
            definition.name is None or definition.name.value != execution.operation_name
        ):
            continue
        for selection in definition.selection_set.selections:
            yield selection if isinstance(selection, FieldNode) else None
        return


def storable(execution: ExecutionContext) -> bool:
    """Whether a query's answer may be reused: no errors, no fields that must stay fresh."""
    result = execution.result
    if result is None or result.errors:
        return False
    return all(
        field is not None and field.name.value not in NO_STORE_FIELDS
        for field in _root_fields(execution)
    )


class ResponseCacheExtension(SharedExtension):
    """Marks storable query answers; a mutation invalidates once its operation ends."""

    def operation(self, execution: ExecutionContext) -> Iterator[None]:
        """After the operation: invalidate for a mutation, mark a clean query storable."""
        completed = False
        try:
            yield
            completed = True
        finally:
            request = getattr(execution.context, "request", None)
            scope: Scope = getattr(request, "scope", {})
            kind: OperationType | None
            try:
                kind = execution.operation_type
            except (RuntimeError, AttributeError, KeyError):
                kind = None  # the document did not parse: nothing ran
            if kind is OperationType.MUTATION:
                invalidation = invalidation_of(scope)
                if invalidation is not None:
                    invalidation.note_write()
            elif kind is OperationType.QUERY and completed:
                state = known_state(scope)
                if state is not None and state.storable is not None:
                    state.storable = storable(execution)

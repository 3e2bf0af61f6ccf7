"""`application/graphql-response+json` on /graphql, with the GraphQL-over-HTTP status rules.

A client that lists `application/graphql-response+json` at least as high as
`application/json` (Apollo Client 4 and urql do; app.http.negotiation) gets that media type, and
the spec's rules for it: an answer without `data` is a request error and has a 4xx status; an
answer with `data` is 2xx. Clients read the body of such an answer as a GraphQL response
whatever its status, so a 401's `UNAUTHENTICATED` reaches Apollo's error link as a GraphQL
error (with `application/json` a non-2xx answer is only a `ServerError` holding the text).

Every JSON answer of /graphql passes through here, whoever made it (the view, the rate limit,
the body-size limit, the error boundary): request errors, which every part writes as
`{"data": null, "errors": [...]}` with errors that name no field (no `path`), lose their
`data` entry and get 400 when they were a 200 (a document that does not parse or validate, a
variable that does not coerce, a refusal of the query budget). An execution that failed at the
root keeps `"data": null` and 200, as the spec recommends. `application/json` answers are left
as they are: 200 for documents that do not parse or validate (the spec's rule for that type),
4xx for our refusals, a GraphQL-shaped body either way.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.middleware import header
from app.http.negotiation import GRAPHQL_JSON, json_media_type

PATH = "/graphql"
_NULL_DATA = (b'{"data":null', b'{"data": null')
_MAX_REWRITE = 64 * 1024  # request errors are small; a large answer is never one


def request_error_body(body: bytes, status: int) -> tuple[bytes, int] | None:
    """The body without `data` and its status, when `body` is a request error; else None."""
    if not body.startswith(_NULL_DATA) or len(body) > _MAX_REWRITE:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not isinstance(errors, list) or not errors or answer.get("data") is not None:
        return None
    if status < 400 and any(isinstance(e, dict) and e.get("path") for e in errors):
        return None  # the execution failed at the root: `data: null` stays, and the 200
    del answer["data"]
    return json.dumps(answer, separators=(",", ":")).encode(), status if status >= 400 else 400


class GraphQLMediaTypeMiddleware:
    """Answer /graphql in application/graphql-response+json to the clients that prefer it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("path") != PATH
            or json_media_type(header(scope, "accept")) != GRAPHQL_JSON
        ):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def convert(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("application/json"):
                    headers["content-type"] = GRAPHQL_JSON
                    start = message  # held until the body tells whether it is a request error
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False) and sum(map(len, chunks)) <= _MAX_REWRITE:
                return
            await _flush(send, start, b"".join(chunks), more=message.get("more_body", False))
            start = None
            chunks.clear()

        await self.app(scope, receive, convert)


async def _flush(send: Send, start: Message, body: bytes, *, more: bool) -> None:
    rewritten = None if more else request_error_body(body, start["status"])
    if rewritten is not None:
        body, start["status"] = rewritten
        MutableHeaders(scope=start)["content-length"] = str(len(body))
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": more})

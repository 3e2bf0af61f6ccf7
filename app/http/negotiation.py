"""Content negotiation on /graphql: which media type answers, and whether a request streams.

Clients list several types in `Accept`: Apollo Client 4 `application/graphql-response+json,
application/json;q=0.9`; urql `application/graphql-response+json, application/graphql+json,
application/json, text/event-stream, multipart/mixed` for every query and mutation; graphql-sse
`text/event-stream` alone. The rules (the GraphQL-over-HTTP spec and graphql-sse's):

- A JSON answer is `application/graphql-response+json` when the client lists it at least as
  high as `application/json`, else `application/json` (also for no `Accept` and for `*/*`).
- A request streams (Server-Sent Events) when it accepts `text/event-stream` and either accepts
  no JSON type or is a subscription; a query or a mutation that accepts JSON gets JSON.

Pure functions: the ASGI side is in app.endpoint and app.subscriptions.sse.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from graphql import GraphQLError, OperationType, get_operation_ast, parse

JSON = "application/json"
GRAPHQL_JSON = "application/graphql-response+json"
EVENT_STREAM = "text/event-stream"
MAX_ACCEPT_RANGES = 32  # more is not a real client: the rest is ignored
MAX_TOKENS = 2_000  # schema.limits' token limit: a longer document fails there anyway


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One entry of an Accept header."""

    type: str
    subtype: str
    q: float

    def specificity(self, media: str) -> int:
        """2 exact, 1 type/*, 0 */*, -1 no match."""
        kind, _, sub = media.partition("/")
        if self.type == kind and self.subtype == sub:
            return 2
        if self.type == kind and self.subtype == "*":
            return 1
        if self.type == "*" and self.subtype == "*":
            return 0
        return -1


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header, in order; malformed entries are skipped."""
    ranges: list[MediaRange] = []
    for part in (header or "").split(",")[:MAX_ACCEPT_RANGES]:
        media, *params = part.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub:
            continue
        ranges.append(MediaRange(kind, sub, _quality(params)))
    return ranges


def quality(ranges: list[MediaRange], media: str) -> tuple[int, float]:
    """(specificity, q) of the most specific range matching `media`; (-1, 0) when none."""
    best = (-1, 0.0)
    for entry in ranges:
        specificity = entry.specificity(media)
        if specificity > best[0]:
            best = (specificity, entry.q)
    return best


# Both answers below are pure functions of the Accept header, which a client sends the same on
# every request: they are remembered for the last values seen (an LRU, so varied headers only
# churn it), instead of parsing the header twice per request (~40 Python calls).
ACCEPT_CACHE_SIZE = 128


@lru_cache(maxsize=ACCEPT_CACHE_SIZE)
def json_media_type(header: str | None) -> str | None:
    """The JSON media type to answer with; None when the client accepts neither."""
    ranges = parse_accept(header)
    if not ranges:
        return JSON
    graphql_specificity, graphql_q = quality(ranges, GRAPHQL_JSON)
    _, json_q = quality(ranges, JSON)
    # Only a client that names the new type gets it: `*/*` keeps application/json (the spec's
    # SHOULD for legacy clients).
    if graphql_specificity == 2 and graphql_q > 0 and graphql_q >= json_q:
        return GRAPHQL_JSON
    if json_q > 0:
        return JSON
    return GRAPHQL_JSON if graphql_q > 0 else None


@lru_cache(maxsize=ACCEPT_CACHE_SIZE)
def accepts_event_stream(header: str | None) -> bool:
    """Whether the client names `text/event-stream` (a wildcard is not a request to stream)."""
    specificity, q = quality(parse_accept(header), EVENT_STREAM)
    return specificity == 2 and q > 0


def is_subscription(query: object, operation_name: object) -> bool:
    """Whether the operation a request selects is a subscription (False when it cannot tell)."""
    if not isinstance(query, str) or not (
        operation_name is None or isinstance(operation_name, str)
    ):
        return False
    if "subscription" not in query:
        return False  # no need to parse: the keyword is not there
    try:
        document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return False
    operation = get_operation_ast(document, operation_name)
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


def streams(accept: str | None, *, subscription: bool) -> bool:
    """Whether a request is answered as an event stream (see the module's rules)."""
    if not accepts_event_stream(accept):
        return False
    return subscription or json_media_type(accept) is None

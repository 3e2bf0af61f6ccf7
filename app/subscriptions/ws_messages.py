"""The shape of a WebSocket message from a client, checked before Strawberry's handlers read it.

Strawberry indexes messages as dicts and catches only KeyError: a frame that is a JSON array,
a `subscribe` whose `payload` is null, an `id` that is an object or a `query` that is a number
raised TypeError out of the handler, and the socket was dropped without a close frame (and the
traceback logged). `message_problem` says what is wrong with a message, or None; the handlers
(ws_frames) close the socket with 4400, which graphql-transport-ws defines for an invalid
message, on both protocols.

The shapes (graphql-transport-ws; the legacy graphql-ws's `start`/`stop` take the same):
every message an object with a string `type`; `subscribe`/`start`: a string `id` and a
`payload` object whose `query` is a non-empty string (Strawberry raised on an empty one),
`variables` and `extensions` objects or null, and `operationName` a string or null;
`complete`/`stop`: a string `id`; `connection_init`: `payload` an object or null (Strawberry's
own check).
"""

from __future__ import annotations

INVALID_MESSAGE = 4400
# Operation ids are echoed in every frame of the operation and kept as keys: bounded.
MAX_ID_LENGTH = 256
_SUBSCRIBE = {"subscribe", "start"}
_STOP = {"complete", "stop"}


def _id_problem(message: dict[object, object]) -> str | None:
    operation_id = message.get("id")
    if not isinstance(operation_id, str) or not operation_id:
        return "`id` must be a non-empty string"
    if len(operation_id) > MAX_ID_LENGTH:
        return f"`id` must be at most {MAX_ID_LENGTH} characters"
    return None


def _payload_problem(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return "`payload` must be an object"
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        return "`payload.query` must be a non-empty string"
    for name in ("variables", "extensions"):
        if not isinstance(payload.get(name), (dict, type(None))):
            return f"`payload.{name}` must be an object or null"
    if not isinstance(payload.get("operationName"), (str, type(None))):
        return "`payload.operationName` must be a string or null"
    return None


def message_problem(message: object) -> str | None:
    """What makes a client's message invalid, or None if Strawberry may handle it."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "`type` must be a string"
    if kind in _SUBSCRIBE:
        return _id_problem(message) or _payload_problem(message.get("payload"))
    if kind in _STOP:
        return _id_problem(message)
    return None

"""One error style everywhere: `extensions.code` from dpo.errors, unexpected errors masked.

Document errors (syntax, validation, variables that fail to coerce, including bad scalar
input) get code VALIDATION with graphql-core's message. Domain errors keep their message and
put their code and details in `extensions`. Anything else is logged with the request id and,
unless DEBUG, reaches the client as "Internal server error" with code INTERNAL and the
request id in `extensions.requestId` (over WebSocket and SSE there is no response header to
carry it). This holds on every transport: an exception escaping a subscription's stream, which
Strawberry wraps without a path, is as unexpected as one in a resolver.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext

from dpo.errors import DomainError, ErrorCode
from dpo.logs import request_id_var
from schema.scalars import ScalarError
from schema.shared_extension import SharedExtension

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error"
# Exceptions Strawberry raises about the request itself (wrong operation type for the transport).
_CLIENT_EXCEPTIONS = (CannotGetOperationTypeError, InvalidOperationTypeError)


def _unwrap(error: GraphQLError) -> BaseException | None:
    original: BaseException | None = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def is_unexpected(error: GraphQLError) -> bool:
    """Whether the error comes from a bug or an outage rather than the request."""
    original = _unwrap(error)
    if isinstance(original, (DomainError, ScalarError)) or (error.extensions or {}).get("code"):
        return False
    # Errors before execution (syntax, validation, coercing variables) are the client's; during
    # execution, anything but a domain error (a raise, a null in a non-null field) is ours.
    if error.path is not None:
        return True
    # Without a path: graphql-core's own errors, and coercion errors naming the document node
    # they concern, are the client's. A bare exception with neither escaped a subscription's
    # source stream (Strawberry wraps it without path or nodes): ours.
    return (
        original is not None
        and not isinstance(original, GraphQLError)
        and not isinstance(original, _CLIENT_EXCEPTIONS)
        and not error.nodes
    )


def request_id_of(context: Any) -> str | None:
    """The request id the web layer's middleware assigned (already sanitised), if any."""
    state = getattr(getattr(context, "request", None), "state", None)
    request_id = getattr(state, "request_id", None) if state is not None else None
    if request_id is None and request_id_var.get() != "-":
        request_id = request_id_var.get()
    return str(request_id) if request_id else None


def format_error(
    error: GraphQLError, *, debug: bool, request_id: str | None = None
) -> GraphQLError:
    """The client's view of one error; an INTERNAL one names the request to look up."""
    original = _unwrap(error)
    extensions: dict[str, Any] = dict(error.extensions or {})
    message = error.message
    if isinstance(original, DomainError):
        extensions.update(original.details)
        extensions["code"] = original.code.value
        message = original.message
    elif extensions.get("code"):
        pass  # already classified where it was raised (e.g. a limit)
    elif is_unexpected(error):
        extensions["code"] = ErrorCode.INTERNAL.value
        if request_id is not None:
            extensions["requestId"] = request_id
        if not debug:
            message = INTERNAL_MESSAGE
    else:
        extensions.setdefault("code", ErrorCode.VALIDATION.value)
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorFormatter(SharedExtension):
    """Rewrites every error of a result into the API's one style.

    In the place of Strawberry's MaskErrors (every error "masked" by formatting it), shared by
    every operation: each result is formatted when the operation ends, and each result of a
    stream (a subscription's events) before it is sent. A stream's last result may be seen
    again when its operation ends: formatting a formatted error gives it back unchanged.
    """

    def __init__(self, *, debug: bool = False) -> None:
        self.debug = debug

    def operation(self, context: ExecutionContext) -> Iterator[None]:
        """Format the finished operation's errors."""
        yield
        result = context.result
        self._format(context, getattr(result, "initial_result", None) or result)

    def stream_result(self, context: ExecutionContext, result: object) -> Iterator[None]:
        """Format a stream's result before it reaches the client."""
        self._format(context, result)
        yield

    def _format(self, context: ExecutionContext, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            request_id = request_id_of(context.context)
            result.errors = [  # type: ignore[attr-defined]
                format_error(error, debug=self.debug, request_id=request_id) for error in errors
            ]


def log_errors(errors: list[GraphQLError], context: Any) -> None:
    """Log unexpected errors with their traceback; the client's own mistakes at debug."""
    request_id = request_id_of(context)
    for error in errors:
        if is_unexpected(error):
            original = _unwrap(error)
            logger.error(
                "unexpected error in %s (request %s)", error.path, request_id, exc_info=original
            )
        else:
            logger.debug("request %s refused: %s", request_id, error.message)

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
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from dpo.errors import DomainError, ErrorCode
from dpo.logs import request_id_var
from schema.scalars import ScalarError

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


class ErrorFormatter(MaskErrors):
    """Rewrites every error of a result into the API's one style."""

    def __init__(self, *, debug: bool = False) -> None:
        super().__init__(should_mask_error=lambda _: True, error_message=INTERNAL_MESSAGE)
        self.debug = debug

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """Format instead of blanket masking."""
        context = getattr(getattr(self, "execution_context", None), "context", None)
        return format_error(error, debug=self.debug, request_id=request_id_of(context))

    def _process_result(self, result: Any) -> None:
        # As MaskErrors does, minus its runtime Protocol isinstance check: that costs more
        # than the rest of the hook and runs for every frame of every subscriber.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)


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

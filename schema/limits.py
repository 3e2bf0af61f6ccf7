"""GraphQL limits after the OWASP GraphQL cheat sheet, as Strawberry extensions.

Tokens are refused by the parser; the document's expanded size and its estimated cost
(schema.cost, fragments measured once) before validation runs; depth and aliases by validation
rules measured the same way; the caller's cost per minute (a Meter the web layer gives) before
execution; execution is cut off after a time limit; introspection and "Did you mean"
suggestions are off in production. Every refusal carries `extensions.code` LIMIT_EXCEEDED.
Batching stays off (Strawberry's default), so a request carries exactly one operation; `first`
is capped in the Relay helpers.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from graphql import ASTValidationRule, DocumentNode, GraphQLError, ValidationContext
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, ExecutionResult

from dpo.errors import ErrorCode
from schema.budget import Meter, QueryBudget
from schema.cost import shape
from schema.shared_extension import SharedExtension

# The messages of Strawberry's and graphql-core's limit rules (pinned versions; tests
# break if they change).
_LIMIT_MESSAGES = re.compile(
    r"exceeds maximum operation depth of \d+$"
    r"|^\d+ aliases found\. Allowed: \d+$"
    r"|^Syntax Error: Document contains more than \d+ tokens\."
    r"|^Syntax Error: Document is nested too deeply\.",
)
_SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$")


# Distinct query texts whose parsed documents are kept.
PARSE_CACHE_SIZE = 512
_DOCUMENTS: OrderedDict[tuple[str, frozenset[tuple[str, Hashable]]], DocumentNode] = OrderedDict()


class TokenLimit(SharedExtension):
    """Strawberry's MaxTokensLimiter, shared: the parser refuses documents over `max_tokens`."""

    def __init__(self, *, max_tokens: int) -> None:
        self.max_tokens = max_tokens

    def operation(self, context: ExecutionContext) -> Iterator[None]:
        """Set the parser's token limit for the operation."""
        context.parse_options["max_tokens"] = self.max_tokens
        yield


class ValidationRules(SharedExtension):
    """Strawberry's AddValidationRules, shared: `rules` join the operation's validation."""

    def __init__(self, rules: Sequence[type[ASTValidationRule]]) -> None:
        self.rules = tuple(rules)

    def operation(self, context: ExecutionContext) -> Iterator[None]:
        """Add the rules (the validation cache keys on them, so they are the same classes)."""
        context.validation_rules = context.validation_rules + self.rules
        yield


class ParseCache(SharedExtension):
    """Reuse the document of a text parsed before with the same options; Strawberry parses misses.

    Only successful parses are stored, after Strawberry's own parse, so every parse error
    (the token limit's included) still arises where it did and keeps its code.
    """

    def parse(self, context: ExecutionContext) -> Iterator[None]:
        """Hand Strawberry a cached document, or store the one it parsed."""
        key = (context.query or "", frozenset(context.parse_options.items()))
        cached = _DOCUMENTS.get(key)
        if cached is not None:
            _DOCUMENTS.move_to_end(key)
            context.graphql_document = cached
        yield
        if cached is None and context.graphql_document is not None:
            _DOCUMENTS[key] = context.graphql_document
            if len(_DOCUMENTS) > PARSE_CACHE_SIZE:
                _DOCUMENTS.popitem(last=False)


@dataclass(frozen=True)
class Limits:
    """The numbers; the defaults are the production values."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2_000
    # Fields once every fragment is written out: what 2,000 tokens could spell out, with room
    # for fragments reused a few times; bounds what validation and execution walk.
    max_selections: int = 5_000
    # Estimated objects per operation (schema.cost); GRAPHQL_MAX_COST.
    max_cost: int = 5_000
    execution_seconds: float = 10.0


def shape_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """Depth and alias limits, with Strawberry's messages, fragments measured once.

    Strawberry's own limiters follow every spread anew: 2ⁿ steps for n chained fragments that
    each spread the next twice.
    """

    class ShapeLimits(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measured = shape(context.document)
            for name, depth in measured.depths.items():
                if depth > max_depth:
                    context.report_error(
                        GraphQLError(f"'{name}' exceeds maximum operation depth of {max_depth}")
                    )
            if measured.aliases > max_aliases:
                context.report_error(
                    GraphQLError(f"{measured.aliases} aliases found. Allowed: {max_aliases}")
                )

    return ShapeLimits


class ExecutionTimeLimit(SharedExtension):
    """Stop an operation's execution after `seconds` with LIMIT_EXCEEDED."""

    def __init__(self, *, seconds: float) -> None:
        self.seconds = seconds

    async def execute(self, context: ExecutionContext) -> AsyncIterator[None]:
        """Run the execution under a deadline."""
        try:
            async with asyncio.timeout(self.seconds):
                yield
        except TimeoutError:
            # Raised out of the operation, so Strawberry returns it as the only error.
            raise GraphQLError(
                f"The operation took longer than {self.seconds:g} s and was stopped.",
                extensions={"code": ErrorCode.LIMIT_EXCEEDED.value},
            ) from None


class LimitErrors(SharedExtension):
    """Give the limit rules' errors code LIMIT_EXCEEDED; drop field suggestions if asked."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        self.hide_suggestions = hide_suggestions

    def operation(self, context: ExecutionContext) -> Iterator[None]:
        """Rewrite the errors of the finished operation (already formatted)."""
        yield
        result = context.result
        if not isinstance(result, (GraphQLExecutionResult, ExecutionResult)):
            return
        for error in result.errors or ():
            if _LIMIT_MESSAGES.search(error.message):
                error.extensions = {
                    **(error.extensions or {}),
                    "code": ErrorCode.LIMIT_EXCEEDED.value,
                }
            if self.hide_suggestions:
                error.message = _SUGGESTION.sub("", error.message)


def limit_extensions(
    *, production: bool, limits: Limits = Limits(), meter: Meter | None = None
) -> list[Callable[[], SchemaExtension]]:
    """Factories of the limit extensions, for build_schema(extensions=...).

    Validation results are cached (bounded LRU keyed by the document, compared by structure,
    and the rules): a client's repeated operation is validated once. Successful parses are
    cached too (bounded LRU keyed by the text and the token limit; a failure is not cached,
    so the token limit's error still comes from the parser): a thousand subscriptions of one
    query share one document instead of holding ~5 KB of AST each. The depth and
    alias rule is built here, once, so the cache hits (a new rule class per request would
    never). `meter` charges each operation's cost to its caller (schema.budget).
    """
    rules: list[type[ASTValidationRule]] = [shape_rule(limits.max_depth, limits.max_aliases)]
    factories: list[Callable[[], SchemaExtension]] = [
        partial(TokenLimit, max_tokens=limits.max_tokens),
        ParseCache,
        partial(ValidationRules, rules),
        partial(
            QueryBudget, max_selections=limits.max_selections, max_cost=limits.max_cost, meter=meter
        ),
        partial(ExecutionTimeLimit, seconds=limits.execution_seconds),
        partial(LimitErrors, hide_suggestions=production),
    ]
    if production:
        # Its rule joins the others in on_operation, before the (cached) validation runs.
        factories.append(partial(ValidationRules, [NoSchemaIntrospectionCustomRule]))
    return factories

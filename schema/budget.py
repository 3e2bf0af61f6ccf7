"""The query budget: a document's size and cost checked before validation, the caller charged.

In on_validate, before graphql-core's rules run:

1. the document's selections once every fragment is written out (schema.cost.shape, linear in
   the text) over `max_selections` is refused: validation and execution walk the expansion;
2. the operation's estimated objects (schema.cost.estimate_nodes) over `max_cost` is refused;
3. otherwise the document is validated (an LRU cache keyed by document and rules: a repeated
   operation is validated once). graphql-core's rules can still cost seconds within those
   bounds (OverlappingFieldsCanBeMerged is quadratic in fields sharing a response name: 200
   copies of `status { version }` take about a second), so a document not in the cache is
   validated in a worker thread, one at a time: the event loop keeps serving (it gets the GIL
   back every few milliseconds) and validation cannot take more than one core;
4. a valid operation is charged to its caller's budget per minute through `meter` (the web
   layer's, shared by replicas through Redis); a caller who spent it is refused.

Refusals carry code LIMIT_EXCEEDED, and nothing runs. Query answers and every refusal carry
`extensions.cost`: {"requested", "maximum", "remaining", "perMinute"} (remaining and perMinute
are null without a meter or while Redis is unreachable). Mutations are charged but their answer
carries no figures (it is the mutation's result); subscriptions are charged once, when they
start, and their events carry none either.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from dpo.errors import ErrorCode
from schema.cost import estimate_nodes, shape

VALIDATION_CACHE_SIZE = 128
VALIDATION_THREADS = 1
# Keyed by the objects' ids, the objects kept in the entry (an id reused after one was dropped
# never matches): graphql-core's nodes are frozen dataclasses whose hash walks the whole
# document, twice per hit (the lookup and the move to the end), about 120 Python calls for a
# small query. ParseCache hands the same document object for the same text, so identity is
# what a repeated operation has in common.
_VALIDATIONS: OrderedDict[
    tuple[int, int, tuple[type[ASTValidationRule], ...]],
    tuple[GraphQLSchema, DocumentNode, list[GraphQLError]],
] = OrderedDict()
# Threads start on first use.
_POOL = ThreadPoolExecutor(max_workers=VALIDATION_THREADS, thread_name_prefix="graphql-validate")


async def validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """The validation errors of a document: from the cache, or computed in the worker thread."""
    key = (id(schema), id(document), rules)
    known = _VALIDATIONS.get(key)
    if known is not None and known[0] is schema and known[1] is document:
        _VALIDATIONS.move_to_end(key)
        return list(known[2])
    errors = await asyncio.get_running_loop().run_in_executor(
        _POOL, validate_document, schema, document, rules
    )
    _VALIDATIONS[key] = (schema, document, errors)
    _VALIDATIONS.move_to_end(key)
    if len(_VALIDATIONS) > VALIDATION_CACHE_SIZE:
        _VALIDATIONS.popitem(last=False)
    return list(errors)


# A document's expanded size, and an operation's estimate by its variables: measured once per
# parsed document (ParseCache hands the same object for the same text) and variable values,
# not on every request. Keyed by object ids with the objects kept in the entry, so an id reused
# after a document was dropped never matches.
MEASURE_CACHE_SIZE = 512
_SIZES: OrderedDict[int, tuple[DocumentNode, int]] = OrderedDict()
_ESTIMATES: OrderedDict[Hashable, tuple[DocumentNode, GraphQLSchema, int]] = OrderedDict()
_PLAIN = (str, int, float, bool, type(None))


def _remember(cache: OrderedDict[Any, Any], key: Hashable, entry: Any) -> None:
    cache[key] = entry
    if len(cache) > MEASURE_CACHE_SIZE:
        cache.popitem(last=False)


def expanded_size(document: DocumentNode) -> int:
    """schema.cost.shape's selection count of the document, measured once per document."""
    known = _SIZES.get(id(document))
    if known is not None and known[0] is document:
        return known[1]
    selections = shape(document).selections
    _remember(_SIZES, id(document), (document, selections))
    return selections


def estimate(
    document: DocumentNode,
    schema: GraphQLSchema,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> int:
    """schema.cost.estimate_nodes, once per document, operation and plain variable values."""
    values = variables or {}
    if not all(isinstance(value, _PLAIN) for value in values.values()):
        return estimate_nodes(document, schema, operation_name=operation_name, variables=variables)
    key = (id(document), id(schema), operation_name, tuple(sorted(values.items())))
    known = _ESTIMATES.get(key)
    if known is not None and known[0] is document and known[1] is schema:
        return known[2]
    nodes = estimate_nodes(document, schema, operation_name=operation_name, variables=variables)
    _remember(_ESTIMATES, key, (document, schema, nodes))
    return nodes


@dataclass(frozen=True)
class Spent:
    """The meter's verdict on one operation."""

    allowed: bool
    remaining: int | None  # units left this minute; None when not known (Redis unreachable)
    per_minute: int
    retry_after: int = 0


# Charges `cost` units to the caller of the operation.
Meter = Callable[[ExecutionContext, int], Awaitable[Spent]]


def _refusal(message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.LIMIT_EXCEEDED.value, **extensions})


class QueryBudget(SchemaExtension):
    """Size and cost limits before validation, cached validation, the caller's budget."""

    def __init__(self, *, max_selections: int, max_cost: int, meter: Meter | None = None) -> None:
        self.max_selections = max_selections
        self.max_cost = max_cost
        self.meter = meter
        self.requested: int | None = None
        self.spent: Spent | None = None
        self.refused = False

    async def on_validate(self) -> AsyncIterator[None]:
        """Refuse, or validate and charge; Strawberry skips its own validation either way."""
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            errors = self._over_limits(context, document)
            if errors is None:
                errors = await validated(context.schema._schema, document, context.validation_rules)
                if not errors and self.meter is not None:
                    errors = await self._charge(context)
            context.pre_execution_errors = errors
        yield

    def _over_limits(
        self, context: ExecutionContext, document: DocumentNode
    ) -> list[GraphQLError] | None:
        try:
            selections = expanded_size(document)
            if selections > self.max_selections:
                self.refused = True
                return [
                    _refusal(
                        f"The document expands to {selections:,} fields once its fragments are "
                        f"written out; at most {self.max_selections:,} are allowed."
                    )
                ]
            self.requested = estimate(
                document, context.schema._schema, context.operation_name, context.variables
            )
        except RecursionError:
            self.refused = True
            return [_refusal("The document nests too deeply.")]
        if self.requested > self.max_cost:
            self.refused = True
            return [
                _refusal(
                    f"The operation may return about {self.requested:,} objects; at most "
                    f"{self.max_cost:,} are allowed. Ask for smaller pages (first/last) or fewer "
                    "nested lists."
                )
            ]
        return None

    async def _charge(self, context: ExecutionContext) -> list[GraphQLError]:
        assert self.meter is not None
        self.spent = spent = await self.meter(context, self.requested or 0)
        if spent.allowed:
            return []
        self.refused = True
        return [
            _refusal(
                f"The query budget of {spent.per_minute:,} objects per minute is "
                f"spent; retry in {spent.retry_after} s.",
                retryAfter=spent.retry_after,
            )
        ]

    def get_results(self) -> dict[str, Any]:
        """`extensions.cost` of query answers and refusals."""
        if self.requested is None and not self.refused:
            return {}
        if not self.refused and _operation_type(self.execution_context) != OperationType.QUERY:
            return {}
        spent = self.spent
        return {
            "cost": {
                "requested": self.requested,
                "maximum": self.max_cost,
                "remaining": spent.remaining if spent else None,
                "perMinute": spent.per_minute if spent else None,
            }
        }


def _operation_type(context: ExecutionContext) -> OperationType | None:
    try:
        return context.operation_type
    except (RuntimeError, AttributeError, KeyError):
        return None

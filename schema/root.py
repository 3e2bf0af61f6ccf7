"""The Schema object: root types merged from the feature modules.

Add a feature with a one-line edit of QUERY_TYPES or MUTATION_TYPES.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from resolvers.auth import AuthMutation, AuthQuery
from resolvers.csd import CsdMutation, CsdQuery
from resolvers.feed_status import FeedStatusSubscriptionRoot
from resolvers.investments import InvestmentMutation, InvestmentQuery
from resolvers.investors import InvestorMutation, InvestorQuery
from resolvers.issuers import IssuerQuery, SettlementMutation
from resolvers.market import MarketQuery
from resolvers.offerings import OfferingMutation, OfferingQuery
from resolvers.ops import OpsMutation, OpsQuery
from resolvers.positions import PositionQuery
from resolvers.streams import StreamMutation
from resolvers.subscriptions import FeedSubscriptionRoot
from resolvers.system import resolve_status
from resolvers.webhooks import WebhookQuery
from schema.errors import ErrorFormatter, log_errors
from schema.inputs import TextVariables
from schema.relay import NodeQuery
from schema.scalars import SCALARS
from schema.shared_events import SharedExecutor
from schema.system import ServiceStatus


@strawberry.type
class SystemQuery:
    status: ServiceStatus = strawberry.field(
        resolver=resolve_status, description="The service's version and dependencies."
    )


QUERY_TYPES: tuple[type, ...] = (
    SystemQuery,
    NodeQuery,
    AuthQuery,
    OfferingQuery,
    IssuerQuery,
    InvestorQuery,
    InvestmentQuery,
    PositionQuery,
    OpsQuery,
    WebhookQuery,
    CsdQuery,
    MarketQuery,
)

MUTATION_TYPES: tuple[type, ...] = (
    AuthMutation,
    StreamMutation,
    OfferingMutation,
    SettlementMutation,
    InvestorMutation,
    InvestmentMutation,
    OpsMutation,
    CsdMutation,
)


class DpoSchema(strawberry.Schema):
    """Logs only unexpected errors, with the request id; the client's mistakes are not noise."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Replace Strawberry's log-everything default."""
        log_errors(errors, execution_context.context if execution_context else None)


def build_schema(*, debug: bool,
                 extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = ()
                 ) -> strawberry.Schema:
    """The API's schema; `extensions` (classes or factories) see errors already formatted."""
    query: Any = merge_types("Query", QUERY_TYPES)
    mutation: Any = merge_types("Mutation", MUTATION_TYPES) if MUTATION_TYPES else None
    return DpoSchema(
        query=query,
        mutation=mutation,
        subscription=merge_types("Subscription", (FeedSubscriptionRoot,
                                                  FeedStatusSubscriptionRoot)),
        extensions=[*extensions, TextVariables, partial(ErrorFormatter, debug=debug)],
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=SharedExecutor,
    )


schema = build_schema(debug=False)

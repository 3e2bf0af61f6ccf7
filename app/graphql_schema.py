"""The API's schema, composed here from the root types of resolvers/ and the types of schema/.

Add a feature with a one-line edit of QUERY_TYPES, MUTATION_TYPES or SUBSCRIPTION_TYPES; the
order is the order of the root fields in the SDL (tests/unit/api/schema.graphql).
"""

from __future__ import annotations

import strawberry

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
from resolvers.system import SystemQuery
from resolvers.webhooks import WebhookQuery
from schema.relay import NodeQuery
from schema.root import Extensions, assemble

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

SUBSCRIPTION_TYPES: tuple[type, ...] = (FeedSubscriptionRoot, FeedStatusSubscriptionRoot)


def build_schema(*, debug: bool, extensions: Extensions = ()) -> strawberry.Schema:
    """The API's schema; `extensions` (classes or factories) see errors already formatted."""
    return assemble(query=QUERY_TYPES, mutation=MUTATION_TYPES, subscription=SUBSCRIPTION_TYPES,
                    debug=debug, extensions=extensions)

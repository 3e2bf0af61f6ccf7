"""The API's schema, composed here from the root types of resolvers/ and the types of schema/.

Add a feature with a one-line edit of QUERY_TYPES, MUTATION_TYPES or SUBSCRIPTION_TYPES (the
order is the order of the root fields in the SDL, tests/unit/api/schema.graphql), and one of
NODE_RESOLVERS for each type `node(id)` should find.
"""

from __future__ import annotations

import strawberry

from resolvers.auth import AuthMutation, AuthQuery
from resolvers.csd import CsdMutation, CsdQuery
from resolvers.feed_status import FeedStatusSubscriptionRoot
from resolvers.investments import InvestmentMutation, InvestmentQuery, resolve_investment_node
from resolvers.investors import InvestorMutation, InvestorQuery, resolve_investor_node
from resolvers.issuers import IssuerQuery, SettlementMutation
from resolvers.market import MarketQuery, resolve_price_node, resolve_request_node
from resolvers.offerings import (
    OfferingMutation,
    OfferingQuery,
    resolve_issuer_node,
    resolve_offering_node,
)
from resolvers.ops import (
    OpsMutation,
    OpsQuery,
    resolve_break_node,
    resolve_event_node,
    resolve_job_run_node,
)
from resolvers.positions import PositionQuery, resolve_position_node
from resolvers.streams import StreamMutation
from resolvers.subscriptions import FeedSubscriptionRoot
from resolvers.system import SystemQuery
from resolvers.webhooks import WebhookQuery, resolve_delivery_node
from schema.auth import load_user
from schema.relay import NodeResolver, node_query
from schema.root import Extensions, assemble

# What `node(id)` loads, by type name; each resolver enforces its own permissions.
NODE_RESOLVERS: dict[str, NodeResolver] = {
    "User": load_user,
    "Offering": resolve_offering_node,
    "Issuer": resolve_issuer_node,
    "Investor": resolve_investor_node,
    "Investment": resolve_investment_node,
    "Position": resolve_position_node,
    "ReconciliationBreak": resolve_break_node,
    "JobRun": resolve_job_run_node,
    "ChainEvent": resolve_event_node,
    "InstrumentPrice": resolve_price_node,
    "IsinRequest": resolve_request_node,
    "WebhookDelivery": resolve_delivery_node,
}

QUERY_TYPES: tuple[type, ...] = (
    SystemQuery,
    node_query(NODE_RESOLVERS),
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
    return assemble(
        query=QUERY_TYPES,
        mutation=MUTATION_TYPES,
        subscription=SUBSCRIPTION_TYPES,
        debug=debug,
        extensions=extensions,
    )

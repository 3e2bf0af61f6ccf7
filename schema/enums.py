"""The GraphQL enums that are the core's vocabularies, exposed as they are, never redeclared.

A state or kind gains a value in one place (dpo/db/models/enums.py and its migration) and the
API follows; the reviewed SDL (tests/unit/api/schema.graphql) shows the change. Each is
registered once here, under its API name, with its API description; the schema's modules
import them from here, so a type using one never meets it unregistered. Resolvers receive
and return the core's own members, with nothing to convert.
"""

from __future__ import annotations

import strawberry

from dpo.auth.principal import Kind as PrincipalKind
from dpo.db.models.enums import (
    AccreditationStatus,
    BreakStatus,
    InvestmentState,
    IsinRequestStatus,
    KycStatus,
    Location,
    OfferingStatus,
    PaymentStatus,
    Regulation,
    SecurityType,
    WebhookStatus,
)
from dpo.db.models.enums import Csd as CsdName
from dpo.services.offerings import OfferingSort as OfferingSortField
from dpo.streaming.status import FeedState

__all__ = [
    "AccreditationStatus",
    "BreakStatus",
    "CsdName",
    "FeedState",
    "InvestmentState",
    "IsinRequestStatus",
    "KycStatus",
    "Location",
    "OfferingSortField",
    "OfferingStatus",
    "PaymentStatus",
    "PrincipalKind",
    "Regulation",
    "SecurityType",
    "WebhookStatus",
]

strawberry.enum(PrincipalKind, name="PrincipalKind", description="How the caller authenticated.")
strawberry.enum(
    CsdName, name="CsdName", description="A central securities depository we mirror positions at."
)
strawberry.enum(
    InvestmentState, description=("An order's life: pending_payment → paid → issued | cancelled.")
)
strawberry.enum(
    PaymentStatus, description=("BillBitts' view of an order's payment (the last event applied).")
)
strawberry.enum(KycStatus, description="Outcome of the know-your-customer check.")
strawberry.enum(AccreditationStatus, description="Outcome of the accredited-investor verification.")
strawberry.enum(
    OfferingStatus, description=("An offering's life: draft → open → closed → settled | cancelled.")
)
strawberry.enum(Regulation, description="The exemption or regime an offering is made under.")
strawberry.enum(SecurityType, description="What kind of security an offering sells.")
strawberry.enum(
    OfferingSortField,
    name="OfferingSortField",
    description="What offerings can be sorted by; the id breaks ties.",
)
strawberry.enum(BreakStatus, description="A reconciliation break's life.")
strawberry.enum(Location, description="Where a position is held.")
strawberry.enum(FeedState, description="Whether the chain event feed follows the chain.")
strawberry.enum(IsinRequestStatus, description="Where an ISIN request to Clearstream PMI stands.")
strawberry.enum(
    WebhookStatus, name="WebhookDeliveryStatus", description="What became of a webhook delivery."
)

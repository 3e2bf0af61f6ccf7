"""Every table of the domain; importing this package registers them on Base.metadata."""

from dpo.db.base import Base
from dpo.db.models.auth import ApiKey, AuthNonce, RefreshToken, User
from dpo.db.models.chain import (
    LIVE_EVENT_KEY,
    LIVE_EVENT_WHERE,
    ChainEvent,
    FeedSequence,
    ListenerBlock,
    ListenerCheckpoint,
)
from dpo.db.models.csd import BridgeTransfer, CsdAccount, CsdHolding, SettlementInstruction
from dpo.db.models.enums import (
    AccreditationStatus,
    Audience,
    BreakKind,
    BreakStatus,
    BridgeDirection,
    BridgeStatus,
    Csd,
    IntentKind,
    IntentState,
    InvestmentState,
    IsinRequestStatus,
    KycStatus,
    Location,
    MatchingStatus,
    NotificationStatus,
    OfferingStatus,
    ProcessingStatus,
    Regulation,
    ReportAction,
    Role,
    RunStatus,
    SecurityType,
    SettlementDirection,
    SettlementStatus,
    WebhookStatus,
)
from dpo.db.models.investors import Investment, Investor, InvestorWallet
from dpo.db.models.issuance import IsinRequest, Issuer, Offering
from dpo.db.models.market import FxRate, InstrumentPrice
from dpo.db.models.notifications import Notification
from dpo.db.models.ops import AuditLog, JobRun, WebhookDelivery
from dpo.db.models.positions import Position
from dpo.db.models.reconciliation import (
    BreakRevision,
    ReconciliationBreak,
    ReconciliationRun,
)
from dpo.db.models.reporting import DerivativeReport
from dpo.db.models.sender import ChainIntent, ChainTransaction

metadata = Base.metadata

__all__ = [
    "LIVE_EVENT_KEY",
    "LIVE_EVENT_WHERE",
    "AccreditationStatus",
    "ApiKey",
    "Audience",
    "AuditLog",
    "AuthNonce",
    "Base",
    "BreakKind",
    "BreakRevision",
    "BreakStatus",
    "BridgeDirection",
    "BridgeStatus",
    "BridgeTransfer",
    "ChainEvent",
    "ChainIntent",
    "ChainTransaction",
    "Csd",
    "CsdAccount",
    "CsdHolding",
    "DerivativeReport",
    "FeedSequence",
    "FxRate",
    "InstrumentPrice",
    "IntentKind",
    "IntentState",
    "Investment",
    "InvestmentState",
    "Investor",
    "InvestorWallet",
    "IsinRequest",
    "IsinRequestStatus",
    "Issuer",
    "JobRun",
    "KycStatus",
    "ListenerBlock",
    "ListenerCheckpoint",
    "Location",
    "MatchingStatus",
    "Notification",
    "NotificationStatus",
    "Offering",
    "OfferingStatus",
    "Position",
    "ProcessingStatus",
    "ReconciliationBreak",
    "ReconciliationRun",
    "RefreshToken",
    "Regulation",
    "ReportAction",
    "Role",
    "RunStatus",
    "SecurityType",
    "SettlementDirection",
    "SettlementInstruction",
    "SettlementStatus",
    "User",
    "WebhookDelivery",
    "WebhookStatus",
    "metadata",
]

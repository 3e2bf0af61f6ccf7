"""The vocabularies of the state and kind columns; CHECK constraints are built from them."""

from __future__ import annotations

from enum import StrEnum


class OfferingStatus(StrEnum):
    """An offering's life: draft → open → closed → settled | cancelled."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class Regulation(StrEnum):
    """The exemption or regime an offering is made under."""

    REG_D_506B = "reg_d_506b"
    REG_D_506C = "reg_d_506c"
    REG_S = "reg_s"
    REG_CF = "reg_cf"
    REG_A = "reg_a"


class SecurityType(StrEnum):
    """What kind of security an offering sells."""

    EQUITY = "equity"
    DEBT = "debt"
    CONVERTIBLE = "convertible"
    FUND = "fund"
    REVENUE_SHARE = "revenue_share"
    REAL_ESTATE = "real_estate"
    OTHER = "other"


class KycStatus(StrEnum):
    """Know-your-customer check outcome."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class AccreditationStatus(StrEnum):
    """Accredited-investor verification outcome."""

    NONE = "none"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    EXPIRED = "expired"


class InvestmentState(StrEnum):
    """An order's life: pending_payment → paid → issued | cancelled | refunded."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    ISSUED = "issued"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class PaymentStatus(StrEnum):
    """The payment provider's view of an order's payment (the last event applied)."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class Location(StrEnum):
    """Where a position is held."""

    ONCHAIN = "onchain"
    EUROCLEAR = "euroclear"
    CLEARSTREAM = "clearstream"
    LEDGER = "ledger"


class Csd(StrEnum):
    """The central securities depositories we mirror positions at."""

    EUROCLEAR = "euroclear"
    CLEARSTREAM = "clearstream"


class SettlementDirection(StrEnum):
    """sese.023 delivery or receipt."""

    DELIVER = "deliver"
    RECEIVE = "receive"


class ProcessingStatus(StrEnum):
    """sese.024 processing status."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    REPAIR = "repair"
    CANCELLATION_REQUESTED = "cancellation_requested"
    CANCELLED = "cancelled"


class MatchingStatus(StrEnum):
    """sese.024 matching status."""

    UNMATCHED = "unmatched"
    MATCHED = "matched"


class SettlementStatus(StrEnum):
    """sese.024 settlement status."""

    PENDING = "pending"
    FAILING = "failing"
    PARTIALLY_SETTLED = "partially_settled"
    SETTLED = "settled"


class RunStatus(StrEnum):
    """A job or reconciliation run's outcome."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class BreakKind(StrEnum):
    """What a reconciliation break says is wrong."""

    QUANTITY_MISMATCH = "quantity_mismatch"
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_ON_CHAIN = "missing_on_chain"
    MISSING_AT_CSD = "missing_at_csd"
    FROZEN_MISMATCH = "frozen_mismatch"
    # reconcile_positions --full: the listener's projection disagrees with its own events.
    PROJECTION_MISMATCH = "projection_mismatch"


class BreakStatus(StrEnum):
    """A reconciliation break's life."""

    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class ReportAction(StrEnum):
    """Derivative report action."""

    NEW = "new"
    MODIFY = "modify"
    CANCEL = "cancel"


class BridgeDirection(StrEnum):
    """Tokens locked on chain for a CSD credit, or released back."""

    LOCK = "lock"
    RELEASE = "release"


class BridgeStatus(StrEnum):
    """A bridge transfer's life."""

    PENDING = "pending"
    INSTRUCTED = "instructed"
    SETTLED = "settled"
    FAILED = "failed"
    CANCELLED = "cancelled"


class IsinRequestStatus(StrEnum):
    """Where our request to Clearstream PMI for an offering's ISIN stands."""

    PENDING = "pending"
    ALLOCATED = "allocated"
    REJECTED = "rejected"


class WebhookStatus(StrEnum):
    """A received webhook's processing outcome."""

    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"


class Role(StrEnum):
    """What a user or API key may do."""

    ADMIN = "admin"
    ISSUER = "issuer"
    OPS = "ops"
    INVESTOR = "investor"


class Audience(StrEnum):
    """Who a notification is for."""

    OPS = "ops"
    INVESTOR = "investor"


class NotificationStatus(StrEnum):
    """An outbox message's life: pending → sending → sent | failed (pending again on retry)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class IntentKind(StrEnum):
    """What a chain intent does: record an order (STO.invest), issue its tokens
    (Issuance.issue), record its refund (STO.refund), or fill a nonce nothing else needs."""

    INVEST = "invest"
    ISSUE = "issue"
    REFUND = "refund"
    FILL = "fill"


class IntentState(StrEnum):
    """A chain intent's life: pending → in_flight → mined → succeeded (confirmed) | reverted;
    mined → pending (a reorg took its block: checked on chain again); pending → failed (could
    not be built: ops must look) | cancelled (no longer needed)."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    MINED = "mined"
    SUCCEEDED = "succeeded"
    REVERTED = "reverted"
    FAILED = "failed"
    CANCELLED = "cancelled"

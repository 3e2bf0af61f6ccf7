"""Prometheus metrics of the sender process (served on SENDER_METRICS_PORT).

The web replicas export the intents by state from PostgreSQL too (dpo_sender_intents on their
/metrics, dpo/sender/health.py), so an alert on reverted or failed intents does not depend on
the sender being up.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from dpo.db.models.enums import IntentKind, IntentState

SENDS = Counter("dpo_sender_sends_total", "Transactions broadcast for the first time.", ["kind"])
RESENDS = Counter(
    "dpo_sender_resends_total", "Transactions broadcast again because the node no longer had them."
)
REPLACEMENTS = Counter(
    "dpo_sender_replacements_total",
    "Transactions replaced (same nonce, higher fees) after not being mined.",
)
REVERTS = Counter(
    "dpo_sender_reverts_total",
    "Intents that reverted (at estimation or on chain), by kind.",
    ["kind"],
)
FINISHED = Counter(
    "dpo_sender_intents_finished_total", "Intents that reached a final state.", ["kind", "state"]
)
INTENTS = Gauge("dpo_sender_intents", "Intents by state, as of the sender's last pass.", ["state"])
NONCE_GAP = Gauge(
    "dpo_sender_nonce_gap",
    "Our next nonce minus the node's pending nonce (> 0: transactions of ours the "
    "node lacks, about to be resent).",
)
STUCK = Gauge("dpo_sender_stuck", "In-flight transactions that the fee caps keep from replacing.")
REORGED = Counter(
    "dpo_sender_reorged_total",
    "Mined intents a reorg moved to another block or took (sent back to the chain "
    "check), by outcome.",
    ["outcome"],
)
RPC_ERRORS = Counter("dpo_sender_rpc_errors_total", "Failed JSON-RPC attempts by kind.", ["kind"])

for _state in IntentState:
    INTENTS.labels(state=_state.value)
for _kind in IntentKind:
    SENDS.labels(kind=_kind.value)
    REVERTS.labels(kind=_kind.value)
for _outcome in ("moved", "dropped"):
    REORGED.labels(outcome=_outcome)
for _error in ("timeout", "transport", "rate_limited", "http_error", "bad_body"):
    RPC_ERRORS.labels(kind=_error)

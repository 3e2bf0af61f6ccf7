"""Prometheus metrics of sign-in checks, registered in the default registry."""

from __future__ import annotations

from prometheus_client import Counter

# Every call of verify_access_token, whatever its outcome: a request is verified once, so this
# moves by one per HTTP request that carries a bearer token (and one per WebSocket sign-in).
TOKEN_VERIFICATIONS = Counter(
    "dpo_access_token_verifications_total",
    "Access tokens verified (signature and claims, or the cache of verified tokens), valid or not.",
)

# For a web app that serves its own registry (app.http.metrics) as well as the default one.
COLLECTORS = (TOKEN_VERIFICATIONS,)

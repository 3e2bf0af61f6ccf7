"""Clients of the outside world: the ECB, Xetra, Euroclear, Clearstream and Omnisend.

Every client goes through `dpo.providers.http.ProviderHttp` (timeouts, retries, a circuit
breaker, metrics, request ids, no secrets in logs); the wire formats are in
docs/INTEGRATIONS.md beside each client.
"""

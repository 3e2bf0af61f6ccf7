"""Reconciliation of positions: the ledger against the chain against the depositories."""

"""Test helpers shared by several suites (a fault-injecting JSON-RPC proxy)."""

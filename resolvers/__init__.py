"""Thin resolvers: parse input, call a service, map the result."""

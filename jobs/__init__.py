"""Scheduled jobs: one module per job, plus the registry."""

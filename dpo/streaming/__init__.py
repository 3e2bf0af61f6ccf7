"""Live delivery of the chain event feed: one Redis doorbell per process, rows from PostgreSQL."""

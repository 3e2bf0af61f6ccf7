"""Application services: keyword-only use cases over a session and a principal."""

"""Database: models, sessions, unit of work."""

"""Local simulators of the external APIs, for development and tests only."""

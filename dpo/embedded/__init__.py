"""Real servers for laptops and tests: PostgreSQL, Redis and anvil as child processes."""

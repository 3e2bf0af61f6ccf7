"""Authentication: staff passwords, wallet sign-in, API keys."""

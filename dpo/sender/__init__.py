"""The platform wallet: chain intents written with the state change that needs them, and the
sender that signs and sends them exactly once (docs/SENDER.md)."""

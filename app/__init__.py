"""The composition root: the Starlette application and the dpo CLI."""

"""`python -m app` runs the dpo command."""

from app.cli import main

main()

"""A benchmark's own database, dropped and created anew on each run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from emitter import seed

from dpo.db.urls import with_database

ROOT = Path(__file__).resolve().parents[1]
# Our variables a child must not inherit from the caller's shell.
OURS = ("DATABASE_URL", "REDIS_URL", "BLOCKCHAIN_RPC_URL", "QUICKNODE_URL", "START_BLOCK_NUMBER")


async def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server; return its URL."""
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(server_url, name)


async def checkpoint(server_url: str) -> None:
    """Write out what earlier runs left dirty, so that no run pays for another's writes."""
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def prepared_database(
    server_url: str, name: str, tree: Path | None, token: str, investments: int = 0
) -> str:
    """A fresh database migrated by the code in `tree` (ours: None), with the bench's offering
    (and `investments` paid orders, emitter.seed), after a CHECKPOINT; its URL."""
    database_url = await fresh_database(server_url, name)
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    env |= {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "migrate",
        "--noinput",
        env=env,
        cwd=tree or ROOT / "bench",
        stdout=subprocess.DEVNULL,
    )
    if await migrate.wait() != 0:
        raise RuntimeError(f"the migrations of {tree or 'our tree'} failed")
    await seed(database_url, token, investments)
    await checkpoint(server_url)
    return database_url

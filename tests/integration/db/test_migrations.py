"""Migrations go up, down and up again, and leave exactly the schema the models describe."""

from __future__ import annotations

import io
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dpo.db.migrate import (
    alembic_config,
    current_async,
    downgrade_async,
    history_async,
    upgrade,
    upgrade_async,
)
from dpo.db.models import metadata
from dpo.db.session import create_engine
from dpo.db.urls import libpq_url

SCRIPTS = ScriptDirectory.from_config(alembic_config("postgresql://unused/"))
HEAD = SCRIPTS.get_current_head()
REVISIONS = len(list(SCRIPTS.walk_revisions()))


async def fetch(url: str, sql: str) -> list[Any]:
    """The first column of a query's rows."""
    connection = await asyncpg.connect(libpq_url(url))
    try:
        return [row[0] for row in await connection.fetch(sql)]
    finally:
        await connection.close()


TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
# Types we created: enums, domains, composite types other than the tables' own row types.
TYPES = """
    SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c', 'r', 'm')
      AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
"""
SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
# NOT NULL constraints (contype 'n', PostgreSQL 18+) are columns' nullability, not names we give.
CONSTRAINT_NAMES = """
    SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND t.relname <> 'alembic_version' AND c.contype <> 'n'
"""
INDEX_NAMES = """
    SELECT indexname FROM pg_indexes
    WHERE schemaname = 'public' AND tablename <> 'alembic_version'
"""


async def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    url = empty_database
    assert await current_async(url) is None
    assert [applied for _, _, applied in await history_async(url)] == [False] * REVISIONS

    await upgrade_async(url)
    assert await current_async(url) == HEAD
    assert set(await fetch(url, TABLES)) == {*metadata.tables, "alembic_version"}
    assert await fetch(url, "SELECT id || ':' || last_value FROM feed_sequence") == ["1:0"]
    history = await history_async(url)
    assert history[0] == ("0001", "Initial schema: the whole domain.", True)
    assert history[-1][0] == HEAD
    assert all(applied for _, _, applied in history)

    await downgrade_async(url, "base")
    assert await current_async(url) is None
    assert await fetch(url, TABLES) == ["alembic_version"]
    assert await fetch(url, TYPES) == []
    assert await fetch(url, SEQUENCES) == []
    assert [applied for _, _, applied in await history_async(url)] == [False] * REVISIONS

    await upgrade_async(url)
    assert await current_async(url) == HEAD
    assert set(await fetch(url, TABLES)) == {*metadata.tables, "alembic_version"}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def test_models_and_migrated_schema_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


def _expected_names() -> set[str]:
    names: set[str] = set()
    for table in metadata.tables.values():
        names.update(str(constraint.name) for constraint in table.constraints)
        names.update(str(index.name) for index in table.indexes)
    return names


async def test_every_constraint_and_index_has_its_model_name(migrated_url: str) -> None:
    # compare_metadata ignores CHECK constraints; names catch a check missing either side.
    in_database = set(await fetch(migrated_url, CONSTRAINT_NAMES))
    in_database |= set(await fetch(migrated_url, INDEX_NAMES))
    assert in_database == _expected_names()


async def test_sync_api_inside_event_loop_is_refused(empty_database: str) -> None:
    with pytest.raises(RuntimeError, match="upgrade_async"):
        upgrade(empty_database)
    assert await current_async(empty_database) is None


async def test_migrations_run_on_a_given_connection(empty_database: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config(empty_database)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    engine = create_engine(empty_database, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()
    assert await current_async(empty_database) == HEAD


def test_offline_mode_renders_sql() -> None:
    config = alembic_config("postgresql://nobody@localhost/offline")
    buffer = io.StringIO()
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    assert "CREATE TABLE chain_events" in sql
    assert "INSERT INTO feed_sequence (id, last_value) VALUES (1, 0)" in sql
    assert "CREATE TYPE" not in sql


EVENT_INDEXES = """
    SELECT indexname || ' ' || regexp_replace(indexdef, '^.* USING btree ', '') FROM pg_indexes
    WHERE tablename IN ('chain_events', 'derivative_reports') ORDER BY 1
"""
EVENT = """
    INSERT INTO chain_events (id, chain_id, contract_address, contract_name, event_name,
        block_number, block_hash, tx_hash, tx_index, log_index)
    VALUES (1, 31337, '0x' || repeat('1', 40), 'Issuance', 'Transfer', 7, '0x' || repeat('a', 64),
        '0x' || repeat('b', 64), 0, 3)
"""


async def test_event_indexes_up_and_down(empty_database: str) -> None:
    # 0013 keeps the indexes a query uses and puts the live key in block order; down restores.
    url = empty_database
    await upgrade_async(url, "0012")
    before = await fetch(url, EVENT_INDEXES)
    assert (
        "uq_chain_events_live_key (chain_id, block_hash, tx_hash, log_index) WHERE (NOT removed)"
        in before
    )
    await fetch(url, EVENT)
    await upgrade_async(url, "0013")
    after = await fetch(url, EVENT_INDEXES)
    assert [line.split(" ")[0] for line in after] == [
        "ix_chain_events_event_name_id",
        "ix_chain_events_investment_ref",
        "ix_chain_events_removes_id",
        "ix_derivative_reports_chain_event_id",
        "ix_derivative_reports_reported_at",
        "pk_chain_events",
        "pk_derivative_reports",
        "uq_chain_events_live_key",
        "uq_derivative_reports_uti_action_version",
    ]
    assert (
        "uq_chain_events_live_key (chain_id, block_number, log_index, block_hash) "
        "WHERE (NOT removed)" in after
    )
    # The kept row still counts: the same log again is refused by the new key.
    with pytest.raises(asyncpg.UniqueViolationError, match="uq_chain_events_live_key"):
        await fetch(url, EVENT.replace("VALUES (1,", "VALUES (2,"))
    await downgrade_async(url, "0012")
    assert await fetch(url, EVENT_INDEXES) == before
    assert await fetch(url, "SELECT count(*) FROM chain_events") == [1]
    await upgrade_async(url)
    assert await fetch(url, EVENT_INDEXES) == after


ORDER_INDEXES = """
    SELECT indexname || ' ' || regexp_replace(indexdef, '^.* USING btree ', '') FROM pg_indexes
    WHERE tablename = 'investments' ORDER BY 1
"""


async def test_investment_indexes_up_and_down(empty_database: str) -> None:
    # 0014 keys the order indexes by columns an order never changes; down restores 0013's.
    url = empty_database
    await upgrade_async(url, "0013")
    before = await fetch(url, ORDER_INDEXES)
    assert "ix_investments_state (state)" in before
    await upgrade_async(url, "0014")
    after = await fetch(url, ORDER_INDEXES)
    assert [
        line for line in after if line.startswith(("ix_investments_i", "ix_investments_o"))
    ] == [
        "ix_investments_investor_id_id (investor_id, id)",
        "ix_investments_offering_id_id (offering_id, id)",
    ]
    assert not [line for line in after if "state" in line.split(" WHERE ")[0]]
    assert len(after) == len(before) - 1
    await downgrade_async(url, "0013")
    assert await fetch(url, ORDER_INDEXES) == before
    await upgrade_async(url, "0014")
    assert await fetch(url, ORDER_INDEXES) == after

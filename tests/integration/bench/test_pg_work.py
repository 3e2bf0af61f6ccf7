"""bench/pg_work.py counts what PostgreSQL did between its start and finish, per event.

Rows inserted, updated and HOT-updated by another connection are counted per table (divided by
the events given), only from `start` on, and the WAL they wrote is counted.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


@pytest.fixture(scope="module")
def pg_work() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts importing each other
    try:
        yield importlib.import_module("pg_work")
    finally:
        sys.path.remove(str(BENCH))


async def test_rows_and_wal_are_counted_per_event(pg_work: ModuleType, empty_database: str) -> None:
    connection = await asyncpg.connect(empty_database)
    try:
        await connection.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b int)")
        await connection.execute("CREATE INDEX t_b ON t (b)")
        await connection.execute("INSERT INTO t SELECT n, 0, 0 FROM generate_series(1, 7) n")
    finally:
        await connection.close()
    before = await pg_work.start(empty_database)
    connection = await asyncpg.connect(empty_database)
    try:
        await connection.execute("INSERT INTO t SELECT n, 0, 0 FROM generate_series(8, 11) n")
        await connection.execute("UPDATE t SET a = 1 WHERE id <= 4")  # no indexed column: HOT
        await connection.execute("UPDATE t SET b = 1 WHERE id > 8")  # an indexed column
    finally:
        await connection.close()
    work = await pg_work.finish(empty_database, before, 2)
    assert work["rows_per_event"]["t"] == {"n_tup_ins": 2.0, "n_tup_upd": 3.5, "n_tup_hot_upd": 2.0}
    assert work["wal_per_event"]["wal_bytes"] > 0
    assert work["wal_per_event"]["wal_records"] >= 11 / 2

"""What a backfill made PostgreSQL do, counted rather than timed (`bench/ingest.py --pg-work`).

A shared machine's timings drift by more than the differences looked for; these counts do
not: WAL bytes and records (pg_stat_wal), blocks read, written and added by every process
(pg_stat_io, PostgreSQL 16 on), rows inserted, updated and HOT-updated per table
(pg_stat_user_tables), the size each index ends with, and per statement its calls, rows, WAL
bytes and blocks (pg_stat_statements, when loaded). The bench's own PostgreSQL is restarted
once with pg_stat_statements loaded and autovacuum off (a vacuum's WAL would land in a run at
random); each backfill's counts are taken from just before its listener starts to just after
it has exited (its backends' counters are flushed as they end), on its own fresh database.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from stack import Stack

SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "autovacuum": "off"}
# The bench's own polling (bench/ingest_process.py) is left out of the statements.
IO = ("blocks_read", "blocks_written", "blocks_extended")  # pg_stat_io, all processes
OWN = ("pg_locks", "pg_stat_", "pg_current_wal_lsn", "pg_relation_size")


async def _configure(server_url: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        for name, value in SETTINGS.items():
            await connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    finally:
        await connection.close()


async def _statements_loaded(connection: asyncpg.Connection) -> bool:
    preloaded = await connection.fetchval("SELECT current_setting('shared_preload_libraries')")
    return "pg_stat_statements" in str(preloaded)


def prepare_server(stack: Stack) -> None:
    """Load pg_stat_statements and stop autovacuum on the bench's own PostgreSQL."""
    if stack.postgres is None:
        raise SystemExit("--pg-work needs the bench's own PostgreSQL: unset DATABASE_URL")
    asyncio.run(_configure(stack.database_url))
    stack.postgres.stop()
    stack.database_url = stack.postgres.start()


async def _snapshot(connection: asyncpg.Connection) -> dict[str, Any]:
    wal = await connection.fetchrow(
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn, wal_records, wal_fpi, wal_bytes "
        "FROM pg_stat_wal"
    )
    io = None
    if await connection.fetchval("SELECT to_regclass('pg_catalog.pg_stat_io') IS NOT NULL"):
        io = await connection.fetchrow(  # PostgreSQL 16 and later
            "SELECT sum(reads) AS blocks_read, sum(writes) AS blocks_written, "
            "sum(extends) AS blocks_extended FROM pg_stat_io WHERE object = 'relation'"
        )
    tables = await connection.fetch(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
    )
    assert wal is not None
    return {
        "wal": dict(wal) | {k: (io or {}).get(k) or 0 for k in IO},
        "tables": {r["relname"]: dict(r) for r in tables},
    }


async def start(database_url: str) -> dict[str, Any]:
    """The counters before a backfill; statements' counters are reset."""
    connection = await asyncpg.connect(database_url)
    try:
        if await _statements_loaded(connection):
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await connection.execute("SELECT pg_stat_statements_reset()")
        await connection.execute("SELECT pg_stat_force_next_flush()")
        return await _snapshot(connection)
    finally:
        await connection.close()


async def finish(database_url: str, before: dict[str, Any], events: int) -> dict[str, Any]:
    """Per event: WAL, rows by table and kind, index sizes, and the writing statements."""
    connection = await asyncpg.connect(database_url)
    try:
        # The listener's backends flush their counters as they exit: wait until they have.
        for _ in range(500):
            others = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not others:
                break
            await asyncio.sleep(0.02)
        await connection.execute("SELECT pg_stat_force_next_flush()")
        after = await _snapshot(connection)
        indexes = await connection.fetch(
            "SELECT relname, indexrelname, pg_relation_size(indexrelid) AS bytes "
            "FROM pg_stat_user_indexes ORDER BY relname, indexrelname"
        )
        statements = []
        if await _statements_loaded(connection):
            statements = await connection.fetch(
                "SELECT query, calls, rows, wal_records, wal_bytes, shared_blks_dirtied, "
                "shared_blks_read, shared_blks_written "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) ORDER BY wal_bytes DESC, calls DESC"
            )
    finally:
        await connection.close()
    wal = {k: float(after["wal"][k] - before["wal"][k]) / events for k in after["wal"]}
    rows: dict[str, dict[str, float]] = {}
    for name, counts in after["tables"].items():
        old = before["tables"].get(name, {})
        moved = {
            key: (value - old.get(key, 0)) / events
            for key, value in counts.items()
            if key != "relname" and value - old.get(key, 0)
        }
        if moved:
            rows[name] = moved
    return {
        "events": events,
        "wal_per_event": wal,
        "rows_per_event": rows,
        "index_bytes": {
            f"{r['relname']}.{r['indexrelname']}": r["bytes"]
            for r in indexes
            if r["relname"] in rows
        },
        "statements": [
            {
                "query": " ".join(r["query"].split())[:140],
                "calls": r["calls"],
                "rows": r["rows"],
                "wal_bytes_per_event": round(float(r["wal_bytes"]) / events, 1),
                "dirtied": r["shared_blks_dirtied"],
                "read": r["shared_blks_read"],
                "written": r["shared_blks_written"],
            }
            for r in statements
            if not any(own in r["query"] for own in OWN)
        ],
    }


def print_work(results: list[dict[str, Any]]) -> None:
    """The runs' PostgreSQL work side by side, per event."""
    runs = [(r["run"], r["pg_work"]) for r in results if r.get("pg_work")]
    if not runs:
        return
    print("\nPostgreSQL work per event (counted)")
    print(f"{'':<60}" + "".join(f"{label:>14}" for label, _ in runs))
    for key in ("wal_bytes", "wal_records", "wal_fpi", *IO):
        print(f"{key:<60}" + "".join(f"{w['wal_per_event'][key]:>14.2f}" for _, w in runs))
    tables = sorted({t for _, w in runs for t in w["rows_per_event"]})
    for table in tables:
        for key in ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "n_tup_del"):
            cells = [w["rows_per_event"].get(table, {}).get(key, 0.0) for _, w in runs]
            if any(cells):
                print(f"{table + ' ' + key[6:]:<60}" + "".join(f"{c:>14.4f}" for c in cells))
    names = sorted({i for _, w in runs for i in w["index_bytes"]})
    for name in names:
        cells = [w["index_bytes"].get(name) for _, w in runs]
        text = "".join(f"{'-' if c is None else format(c // 1024, ','):>14}" for c in cells)
        print(f"{'KiB ' + name:<60.60}{text}")
    for label, work in runs:
        print(f"\n[{label}] statements: calls, rows, WAL bytes/event, blocks dirtied/read/written")
        for s in work["statements"]:
            if s["wal_bytes_per_event"] or s["dirtied"]:
                print(
                    f"{s['calls']:>9,} {s['rows']:>10,} {s['wal_bytes_per_event']:>9.1f} "
                    f"{s['dirtied']:>8,} {s['read']:>8,} {s['written']:>8,}  {s['query']}"
                )

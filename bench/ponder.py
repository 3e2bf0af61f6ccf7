"""Ours against Ponder on one machine, one chain, one PostgreSQL server, in one command.

Usage: .venv/bin/python bench/ponder.py [--events 200000] [--ponder-version 1.0.0]
       [--rounds 1] [--read-rounds 2] [--seconds 10] [--concurrency 8] [--clients 2]
       [--skip-reads] [--latency 30] [--settle-blocks 30] [--ponder-ws]

Installs Ponder from the npm registry into .dpo/bench/ponder-<version>/ (bench/ponder_install.py;
kept for the next run) with our small app over the four contracts (bench/ponder_app/), starts
PostgreSQL, Redis and anvil in a scratch folder (or uses DATABASE_URL / REDIS_URL), deploys the
contracts and emits the events (bench/emitter.py, as bench/ingest.py does). Then:

1. backfill with projections, `--rounds` times each, alternating which goes first: our real
   `dpo listener` process with its defaults on a fresh database, and `ponder start` on another
   (schema `ponder_bench`); events/s from spawn to head, CPU per event of the process tree and
   of PostgreSQL, peak RSS (bench/ponder_backfill.py);
2. uncached reads at steady load (bench/ponder_reads.py): a page of 20 events, one holder's
   positions, one offering with totals, from our GraphQL (`dpo web`, response cache off, signed
   in, limits on) and Ponder's generated /graphql (the last backfill's process), alternating;
   req/s, p50/p99 and server CPU per request;
3. tx mined -> subscriber (bench/ponder_latency.py), `--latency` samples with our listener on
   newHeads and then polling: our `events` subscription against Ponder's /sql/live.

Prints the medians side by side with the ratio ours / Ponder and one `RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from pathlib import Path
from typing import Any

import asyncpg
import ponder_backfill as backfill  # bench/ is the script's folder
import ponder_latency as latency
import ponder_reads as reads
from benchdb import fresh_database
from emitter import Chain, emit, investor, seed
from ingest import checkpoint
from ponder_args import parse_args
from ponder_install import install, write_app
from query import SECRET, bench_settings
from stack import CHAIN_ID, Stack, bench_stack, pid_of
from webserver import web_process

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.chain.artifacts import CONTRACT_ARTIFACTS, load_artifact
from dpo.chain.deploy import deploy_all
from dpo.db.migrate import upgrade
from dpo.db.urls import libpq_url
from dpo.embedded.anvil import DEV_PRIVATE_KEY
from dpo.settings import Settings
from schema.relay import to_global_id


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if not ours or not theirs else f"{ours / theirs:.2f}x"


def row(label: str, ours: float | None, theirs: float | None) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f}"

    return f"{label:<46} {cell(ours):>12} {cell(theirs):>12} {ratio(ours, theirs):>11}"


async def fetch_value(url: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def settle(rpc_url: str, blocks: int) -> None:
    chain = Chain(rpc_url)
    try:
        if blocks:
            await chain.call("anvil_mine", [hex(blocks)])
    finally:
        await chain.http.aclose()


def run_backfills(
    stack: Stack, folder: Path, addresses: dict[str, str], head: int, args: argparse.Namespace
) -> tuple[dict[str, list[dict[str, Any]]], str, backfill.Running]:
    """Alternating backfills; the figures by side, our last database and the last Ponder."""
    logs = folder / "logs"  # kept with the installation, for a look after the run
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "ponder": []}
    ours_url, kept = "", None
    for round_ in range(args.rounds):
        for side in ("ours", "ponder") if round_ % 2 == 0 else ("ponder", "ours"):
            name = "dpo_bench_ponder_ours" if side == "ours" else "dpo_bench_ponder"
            if kept is not None and side == "ponder":
                backfill.stop(kept)  # its database is about to be dropped
            url = asyncio.run(fresh_database(stack.database_url, name))
            if side == "ours":
                upgrade(url)
                asyncio.run(seed(url, addresses["ISSUANCE_CONTRACT_ADDRESS"]))
            asyncio.run(checkpoint(stack.database_url))
            log = logs / f"{side}-{round_}.log"
            run = (
                backfill.start_ours(url, stack.redis_url, stack.rpc_url, addresses, log)
                if side == "ours"
                else backfill.start_ponder(
                    folder, url, log, stack.rpc_url if args.ponder_ws else ""
                )
            )
            try:
                figures = backfill.measure(run, head, args.timeout, pid_of(stack.postgres))
            except BaseException:
                backfill.stop(run)
                raise
            figures.update(round=round_ + 1, load_average=round(os.getloadavg()[0], 2))
            results[side].append(figures)
            print(f"backfill round {round_ + 1} {side}: {json.dumps(figures)}", flush=True)
            if side == "ours":
                backfill.stop(run)
                ours_url = url
            else:
                kept = run
    assert kept is not None
    return results, ours_url, kept


def read_variables(ours_url: str, ponder: backfill.Running) -> dict[str, dict[str, Any]]:
    """The holder and offering both sides are asked about, as each stores them."""
    ours = "SELECT holder_address FROM positions WHERE lower(holder_address) = $1"
    theirs = 'SELECT holder FROM "ponder_bench"."position" WHERE lower(holder) = $1'
    return {
        "ours": {
            "holder": str(asyncio.run(fetch_value(ours_url, ours, investor(0)))),
            "id": to_global_id("Offering", 1),
        },
        "ponder": {
            "holder": str(asyncio.run(fetch_value(ponder.database_url, theirs, investor(0)))),
            "id": "1",
        },
    }


def serve_and_measure(
    stack: Stack,
    ours_url: str,
    ponder: backfill.Running,
    addresses: dict[str, str],
    logs: Path,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`dpo web` on our database; the uncached reads, then the latencies."""
    settings = Settings(DJANGO_SECRET_KEY=SECRET)  # type: ignore[call-arg]
    admin = Principal(kind=Kind.STAFF, role="admin", user_id=1)
    token = create_access_token(admin, settings=settings).token
    headers = {"Authorization": "Bearer " + token}
    env = {**os.environ, **bench_settings(ours_url, stack.redis_url, cache=False)}
    got: dict[str, Any] = {}
    with web_process(env) as (server, base):
        if not args.skip_reads:
            variables = read_variables(ours_url, ponder)
            reads.check("ours", base, headers, variables)
            reads.check("ponder", ponder.base, {}, variables)
            sides = {
                "ours": (reads.targets(base, "ours", headers, variables), server.pid),
                "ponder": (reads.targets(ponder.base, "ponder", {}, variables), ponder.process.pid),
            }
            got = reads.measure(
                sides,
                rounds=args.read_rounds,
                seconds=args.seconds,
                connections=args.concurrency,
                clients=args.clients,
            )
        lat: dict[str, Any] = {}
        if args.latency:
            lat = latency.run(
                stack.rpc_url,
                stack.redis_url,
                ours_url,
                addresses,
                base,
                token,
                ponder,
                args.ponder_version,
                args.latency,
                logs,
            )
    return got, lat


def report(
    version: str, fills: dict[str, list[dict[str, Any]]], got: dict[str, Any], lat: dict[str, Any]
) -> None:
    print(f"\n{'':<46} {'ours':>12} {'ponder ' + version:>12} {'ours/ponder':>11}")
    ours, theirs = fills["ours"], fills["ponder"]
    for label, key in (
        ("backfill events/s (spawn to head)", "events_per_s"),
        ("backfill seconds to first commit", "first_commit_seconds"),
        ("backfill CPU us/event (process tree)", "cpu_us_per_event"),
        ("backfill PostgreSQL CPU us/event", "postgres_cpu_us_per_event"),
        ("backfill peak RSS MB", "peak_rss_mb"),
    ):
        print(row(label, median(ours, key), median(theirs, key)))
    for name in reads.OURS if got else ():
        for label, key in (
            ("req/s", "rps"),
            ("server CPU us/request", "server_cpu_us_per_request"),
        ):
            print(
                row(
                    f"uncached {name} {label}",
                    median(got["ours"][name], key),
                    median(got["ponder"][name], key),
                )
            )
    for mode, sides in lat.items():
        for key in ("p50_ms", "p99_ms"):
            label = f"tx mined -> subscriber {key[:3]} ms, ours {mode}"
            print(row(label, sides["ours"].get(key), sides["ponder"].get(key)))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    folder = install(args.ponder_version)
    with bench_stack("ponder", prune_history=True) as stack:
        addresses = asyncio.run(deploy_all(stack.rpc_url, DEV_PRIVATE_KEY))
        blocks = asyncio.run(emit(stack.rpc_url, addresses, args.events, args.tx_per_block))
        # Ponder indexes blocks younger than its finality depth (30 on an unknown chain) one
        # at a time in real-time mode; empty blocks after the events keep them all historical.
        asyncio.run(settle(stack.rpc_url, args.settle_blocks))
        head = int(asyncio.run(backfill.head_block(stack.rpc_url)))
        print(f"emitted {args.events:,} events in {blocks:,} blocks; head {head}", flush=True)
        names = {CONTRACT_ARTIFACTS[var]: address for var, address in addresses.items()}
        abis = {name: load_artifact(name).abi for name in names}
        ws_url = stack.rpc_url.replace("http://", "ws://", 1) if args.ponder_ws else None
        write_app(folder, args.ponder_version, stack.rpc_url, names, abis, 0, CHAIN_ID, ws_url)
        fills, ours_url, ponder = run_backfills(stack, folder, addresses, head, args)
        try:
            got, lat = serve_and_measure(stack, ours_url, ponder, addresses, folder / "logs", args)
        finally:
            backfill.stop(ponder)
        report(args.ponder_version, fills, got, lat)
        print(
            "RESULT "
            + json.dumps(
                {
                    "bench": "ponder",
                    "ponder_version": args.ponder_version,
                    "ponder_follows_by": "newHeads" if args.ponder_ws else "polling",
                    "events_emitted": args.events,
                    "blocks": head + 1,
                    "backfill": fills,
                    "reads": got,
                    "latency": lat,
                    "load_average": os.getloadavg()[0],
                }
            )
        )


if __name__ == "__main__":
    main()

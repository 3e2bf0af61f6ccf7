"""bench/ponder.py's command line, apart from the bench so that its checks are cheap to test.

A bad value stops with one line and exit 2 before anything is installed or started.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ponder_install import uses_chains, version_tuple  # bench/ is the script's folder


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The checked flags (argparse exits 2 with one line on a bad one)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--tx-per-block", type=int, default=200)
    parser.add_argument("--ponder-version", default="1.0.0", help="e.g. 1.0.0 or 0.16.10")
    parser.add_argument("--rounds", type=int, default=1, help="backfills of each side")
    parser.add_argument("--read-rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="per read measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="connections per client")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per backfill, seconds")
    parser.add_argument(
        "--settle-blocks",
        type=int,
        default=30,
        help="empty blocks mined after the events (Ponder's finality depth on anvil)",
    )
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument(
        "--latency",
        type=int,
        default=30,
        help="tx mined -> subscriber samples per listener mode (0: skip)",
    )
    parser.add_argument(
        "--ponder-ws",
        action="store_true",
        help="Ponder follows the chain by newHeads over WebSocket (0.11 and later)",
    )
    args = parser.parse_args(argv)
    try:
        version_tuple(args.ponder_version)
    except ValueError as exc:
        parser.error(str(exc))
    if args.ponder_ws and not uses_chains(args.ponder_version):
        parser.error(f"--ponder-ws: ponder {args.ponder_version} has no new-block push")
    counts = (args.events, args.tx_per_block, args.rounds, args.read_rounds, args.concurrency)
    if min(*counts, args.clients) < 1:
        parser.error(
            "--events, --tx-per-block, --rounds, --read-rounds, --concurrency and --clients "
            "take >= 1"
        )
    if args.seconds <= 0 or args.timeout <= 0:
        parser.error("--seconds and --timeout take > 0")
    if args.settle_blocks < 0 or args.latency < 0 or args.latency == 1:
        parser.error("--settle-blocks takes >= 0, --latency 0 or >= 2")
    return args

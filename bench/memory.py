"""Memory benchmark: the real `dpo listener` process backfilling N events with default settings.

Usage: .venv/bin/python bench/memory.py [--events 1000000] [--tx-per-block 200]
       [--compare REF] [--rounds 1] [--fresh-chain] [--set NAME=VALUE ...]

The chain (the bench's contracts and events, bench/emitter.py) is emitted once and kept as
anvil's state dump under .dpo/bench/chains/ (`BENCH_CHAINS` to put it elsewhere; see
chain_cache.py): later runs of the same size start from it in seconds. PostgreSQL and Redis
are started in a scratch folder. Each run migrates a fresh database with the code under test,
adds the bench's offering (so positions are projected), then starts `dpo listener` with the
default LISTENER_* settings (`--set` overrides one) and follows it until it has committed the
head: its RSS from /proc every 0.2 s, its peak RSS (VmHWM, the kernel's high-water mark) as
the stored events pass 100k, 250k, 500k and 1M, its events/s from the first head poll to the
last commit, its CPU per event and its final peak (wait4's ru_maxrss). A listener not at
the head after `--timeout` seconds is stopped there and marked * in the table.

`--compare REF` also runs commit REF's listener (a detached worktree, bench/previous.py) on
the same chain and prints both side by side; with `--rounds R` the order alternates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from benchdb import prepared_database  # bench/ is the script's folder
from chain_cache import CACHE, cached_chain
from previous import checkout, drop_checkout
from stack import Stack, bench_stack

from dpo.embedded.process import free_port

ROOT = Path(__file__).resolve().parents[1]
MARKS = (100_000, 250_000, 500_000, 1_000_000)
METRIC = re.compile(rb"^(dpo_listener_\w+?)(?:_total)? ([0-9.e+]+)$", re.MULTILINE)


def proc_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(client: httpx.Client, url: str) -> dict[str, float]:
    try:
        body = client.get(url).content
    except httpx.HTTPError:
        return {}
    return {name.decode(): float(value) for name, value in METRIC.findall(body)}


def listener_env(
    database_url: str, redis_url: str, chain: Any, port: int, extra: list[str]
) -> dict[str, str]:
    """The environment of one `dpo listener`: the defaults, save what `--set` names."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LISTENER_", "DATABASE_", "REDIS_", "QUICKNODE", "BLOCKCHAIN_"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        BLOCKCHAIN_RPC_URL=chain.rpc_url,
        BLOCKCHAIN_NETWORK="anvil",
        START_BLOCK_NUMBER="0",
        LISTENER_METRICS_PORT=str(port),
        LOG_LEVEL="WARNING",
        **chain.addresses,
    )
    env.update(item.split("=", 1) for item in extra)  # type: ignore[arg-type]
    return env


def run(
    label: str, tree: Path | None, stack: Stack, chain: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """One backfill by `dpo listener` of the code in `tree` (ours: None); its figures."""
    token = chain.addresses["ISSUANCE_CONTRACT_ADDRESS"]
    database_url = asyncio.run(
        prepared_database(stack.database_url, "dpo_bench_memory", tree, token)
    )
    port = free_port()
    env = listener_env(database_url, stack.redis_url, chain, port, args.set)
    log = (stack.scratch / f"{label}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "listener"],
        env=env,
        cwd=tree or ROOT / "bench",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        return follow(label, process, port, chain, args, Path(log.name))
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        log.close()


def follow(
    label: str,
    process: subprocess.Popen[bytes],
    port: int,
    chain: Any,
    args: argparse.Namespace,
    log: Path,
) -> dict[str, Any]:
    """Sample the listener until it has committed the head, then stop it; its figures."""
    pid, url = process.pid, f"http://127.0.0.1:{port}/metrics"
    marks = [m for m in MARKS if m < chain.events]
    peaks: dict[int, int] = {}
    samples: list[tuple[float, int, int]] = []  # seconds, events, RSS kB
    started = first = time.monotonic()
    seen_head = False
    cpu = 0.0
    figures: dict[str, float] = {}
    with httpx.Client(timeout=5) as client:
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        head = int(client.post(chain.rpc_url, json=call).json()["result"], 16)
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{label}: dpo listener exited ({process.returncode}): "
                    + log.read_text()[-2000:]
                )
            figures = scrape(client, url) or figures
            now = time.monotonic()
            if not seen_head and figures.get("dpo_listener_head_block", 0) > 0:
                seen_head, first = True, now
            events = int(figures.get("dpo_listener_events", 0))
            rss = proc_kb(pid, "VmRSS")
            samples.append((now - started, events, rss))
            for mark in marks:
                if mark not in peaks and events >= mark:
                    peaks[mark] = proc_kb(pid, "VmHWM")
            # Stopped at the head, or after --timeout (a listener that makes no headway).
            reached = figures.get("dpo_listener_processed_block", -1) >= head
            if reached or now - started > args.timeout:
                cpu = cpu_seconds(pid)
                break
            time.sleep(0.2)
    done = time.monotonic()
    peaks[events] = proc_kb(pid, "VmHWM")
    process.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = done - first
    step = max(1, len(samples) // 12)
    return {
        "bench": "memory",
        "run": label,
        "events": events,
        "blocks": head + 1,
        "reached_head": reached,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "cpu_us_per_event": round(cpu * 1e6 / max(1, events), 1),
        "peak_rss_mb_at": {str(k): round(v / 1024) for k, v in sorted(peaks.items())},
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "rss_mb_by_events": [(e, round(kb / 1024)) for _, e, kb in samples[::step]],
        "exit_code": process.returncode,
        "load_average": round(os.getloadavg()[0], 2),
        "settings": args.set,
    }


def table(results: list[dict[str, Any]]) -> None:
    marks = sorted({int(k) for r in results for k in r["peak_rss_mb_at"]})
    heads = "".join(f"{'@' + format(m, ','):>12}" for m in marks)
    print(
        f"{'run':<10}{'events':>11}{'s':>8}{'events/s':>10}{'CPU us/ev':>10}{'peak MB':>9}"
        f"{heads}{'load':>6}"
    )
    for r in results:
        at = "".join(f"{r['peak_rss_mb_at'].get(str(m), '-'):>12}" for m in marks)
        name = r["run"] + ("" if r["reached_head"] else "*")
        print(
            f"{name:<10}{r['events']:>11,}{r['seconds']:>8.1f}{r['events_per_s']:>10,}"
            f"{r['cpu_us_per_event']:>10}{r['peak_rss_mb']:>9}{at}{r['load_average']:>6.1f}"
        )


def measure_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    # Its own PostgreSQL and Redis (never the environment's), the chain from the cache.
    with (
        bench_stack("memory", reuse=False, anvil=False) as stack,
        cached_chain(args.events, args.tx_per_block, args.chains, fresh=args.fresh_chain) as chain,
    ):
        tree = checkout(args.compare, stack.scratch / "previous") if args.compare else None
        try:
            runs: list[tuple[str, Path | None]] = [("ours", None)]
            if tree is not None:
                runs.append(("previous", tree))
            for n in range(args.rounds):
                # Alternating order (AB BA ...): a drift in the machine's load weighs on both.
                for label, code in runs if n % 2 == 0 else runs[::-1]:
                    result = run(label, code, stack, chain, args)
                    print(
                        json.dumps(result["peak_rss_mb_at"]),
                        result["events_per_s"],
                        label,
                        flush=True,
                    )
                    results.append(result)
        finally:
            if tree is not None:
                drop_checkout(tree)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tx-per-block", type=int, default=200)
    parser.add_argument("--compare", help="also run this commit's `dpo listener`")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--fresh-chain", action="store_true", help="emit the chain anew")
    parser.add_argument("--chains", type=Path, default=Path(os.environ.get("BENCH_CHAINS", CACHE)))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a listener setting instead of its default (repeatable)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds per backfill at most (* in the table)"
    )
    args = parser.parse_args()
    results = measure_all(args)
    table(results)
    for result in results:
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

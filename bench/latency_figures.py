"""bench/latency.py's figures: p50/p99 of each side's frames, stages and splits, and the table.

Every percentile says what it rests on: a p99 of n samples is the k-th largest of them
(k = n - int(0.99 n)), so p99 over 30 frames is the slowest one, over 200 the second slowest;
the stages' histograms count their observations (one per frame and subscriber for `frame`).
"""

from __future__ import annotations

from typing import Any

from latency_parts import STAGES, Buckets, Side, blocks_of, pct, quantile
from latency_trace import SPLITS, Timeline

QUANTILES = ((0.5, "p50"), (0.99, "p99"))


def rank_from_top(n: int, q: float) -> int:
    """Which largest sample pct(values, q) returns: 1 = the largest."""
    return n - min(n - 1, int(n * q)) if n else 0


async def figures(
    sides: list[Side],
    sent: dict[str, dict[int, tuple[str, float]]],
    stages: dict[tuple[str, str], Buckets],
    timeline: Timeline,
    count: int,
    modes: list[str],
    loads: list[float],
) -> list[dict[str, Any]]:
    """p50/p99 of end-to-end, of the splits and of every stage per side and mode."""
    rows = []
    for mode in modes:
        for side in sides:
            blocks = await blocks_of(side.env["DATABASE_URL"])
            mine = {b: t for b, (m, t) in sent.get(side.name, {}).items() if m == mode}
            frames = [(c, at) for c, at in side.received if blocks.get(c) in mine]
            e2e = [at - mine[blocks[c]] for c, at in frames]
            row: dict[str, Any] = {
                "subscribers": count,
                "mode": mode,
                "side": side.name,
                "frames": len(e2e),
                "p99_rank": rank_from_top(len(e2e), 0.99),
                "events": sum(1 for b in blocks.values() if b in mine),
                "sent": len(mine),
                "load": round(sum(loads) / len(loads), 1) if loads else None,
            }
            listener_s, web_s, blocks_sent = side.cpu.get(mode, [0.0, 0.0, 0])
            row["listener_cpu_ms_per_block"] = round(listener_s * 1000 / max(1, blocks_sent), 2)
            row["web_cpu_us_per_frame"] = round(web_s * 1e6 / max(1, blocks_sent * count), 1)
            splits = timeline.splits(side.name, mine, blocks, frames)
            measured = stages.get((side.name, mode), {})
            for stage in STAGES:
                counts = measured.get(stage, {})
                row[f"{stage}_n"] = int(max(counts.values())) if counts else 0
            for name in SPLITS:
                row[f"{name}_n"] = len(splits[name])
            for q, tag in QUANTILES:
                for name, values in (("e2e", e2e), *splits.items()):
                    value = pct(values, q)
                    row[f"{name}_{tag}_ms"] = None if value is None else round(value * 1000, 1)
                for stage in STAGES:
                    got = quantile(measured.get(stage, {}), q)
                    row[f"{stage}_{tag}_ms"] = None if got is None else round(got * 1000, 1)
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as text: p50 / p99 in ms of end-to-end, the splits and the stages."""
    columns = ["e2e", *SPLITS, *STAGES]
    lines = [
        f"{'subs':>5} {'mode':>4} {'side':>8} {'frames':>6} {'p99 is':>9} {'load':>5} "
        + " ".join(f"{c:>13}" for c in columns)
        + "  listener CPU ms/block, web CPU us/frame"
    ]
    for row in rows:
        lines.append(
            f"{row['subscribers']:>5} {row['mode']:>4} {row['side']:>8} {row['frames']:>6} "
            f"{'#' + str(row['p99_rank']) + ' slowest':>9} {row['load'] or '-':>5} "
            + " ".join(
                f"{row[c + '_p50_ms'] or '-'}/{row[c + '_p99_ms'] or '-'}".rjust(13)
                for c in columns
            )
            + f"  {row['listener_cpu_ms_per_block']:>8} {row['web_cpu_us_per_frame']:>8}"
        )
    lines.append(
        "samples per column (p99 of n is the #(n - int(0.99 n)) slowest): "
        + "; ".join(
            f"{row['subscribers']} {row['mode']} {row['side']}: blocks {row['sent']}, "
            + ", ".join(f"{c} {row[c + '_n']}" for c in (*SPLITS, *STAGES))
            for row in rows
        )
    )
    return "\n".join(lines)

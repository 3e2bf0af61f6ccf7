"""Uncached reads of bench/ponder.py: the same three questions to our GraphQL and to Ponder's.

Ours: a `dpo web` worker on the backfilled database, response cache off, signed in (an
admin's bearer token: authentication, the rate limits and the query budget all run, with
limits high enough not to stop the bench, as bench/query.py sets them). Ponder: the
generated GraphQL API (/graphql) of the `ponder start` process that backfilled its database.
The three questions: a page of the first 20 events, one holder's positions, one offering
with its totals. Both are driven by bench/loadgen.py (keep-alive HTTP/1.1, tens of µs of
CPU per request); the server's CPU per request is read from /proc of its process.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
from loadgen import Target, post_request, run_load  # bench/ is the script's folder

OURS = {
    "events": (
        "query Events { events(first: 20) { edges { node { id sequence chainId "
        "contractAddress contractName eventName blockNumber blockHash txHash logIndex args "
        "blockTimestamp } } } }"
    ),
    "positions": (
        "query Positions($holder: Address!) { positions(holder: $holder, first: 20) "
        "{ edges { node { id holder offeringId location quantity frozenQuantity asOfBlock "
        "asOfTime } } } }"
    ),
    "offering": (
        "query Offering($id: ID!) { offering(id: $id) { id name status amountRaised "
        "unitsSold totals { investmentsCount investorsCount amountCommitted } } }"
    ),
}
PONDER = {
    "events": (
        'query Events { events(limit: 20, orderBy: "id", orderDirection: "asc") { items '
        "{ id chainId contractAddress contractName eventName blockNumber blockHash txHash "
        "logIndex args blockTimestamp } } }"
    ),
    "positions": (
        "query Positions($holder: String!) { positions(where: { holder: $holder }, limit: 20) "
        "{ items { holder token quantity frozenQuantity asOfBlock asOfTime } } }"
    ),
    "offering": (
        "query Offering($id: BigInt!) { offering(id: $id) { id investmentsCount "
        "investorsCount unitsIssued amountRaised unitsSold status } }"
    ),
}


def body(side: str, name: str, variables: dict[str, Any]) -> bytes:
    queries = OURS if side == "ours" else PONDER
    wanted = {"positions": ["holder"], "offering": ["id"]}.get(name, [])
    return json.dumps(
        {
            "query": queries[name],
            "operationName": name.capitalize(),
            "variables": {key: variables[key] for key in wanted},
        }
    ).encode()


def rows_of(answer: dict[str, Any], name: str) -> int:
    """How many items an answer holds (the questions must not be answered empty)."""
    data = answer.get("data") or {}
    if name == "offering":
        return 1 if data.get("offering") else 0
    found = data.get(name) or {}
    return len(found.get("edges") or found.get("items") or [])


def check(side: str, base: str, headers: dict[str, str], variables: dict[str, Any]) -> None:
    """One request of each question; stop on an error or an empty answer."""
    for name in OURS:
        answer = httpx.post(
            base + "/graphql",
            content=body(side, name, variables[side]),
            headers={**headers, "Content-Type": "application/json"},
            timeout=30,
        ).json()
        if answer.get("errors") or not rows_of(answer, name):
            raise SystemExit(f"{side} {name}: {json.dumps(answer)[:500]}")


def targets(
    base: str, side: str, headers: dict[str, str], variables: dict[str, Any]
) -> dict[str, Target]:
    return {
        name: post_request(base, "/graphql", body(side, name, variables[side]), headers)
        for name in OURS
    }


def measure(
    sides: dict[str, tuple[dict[str, Target], int]],
    *,
    rounds: int,
    seconds: float,
    connections: int,
    clients: int,
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Each question against each side, in alternating order per round; figures by side."""
    order = list(sides)
    results: dict[str, dict[str, list[dict[str, float]]]] = {s: {} for s in order}
    # Warm-up: connections, query plans, and Node's JIT (Ponder's CPU per request halves
    # between a first and a second 10 s run after a 1 s warm-up).
    for by_name, _pid in sides.values():
        for target in by_name.values():
            run_load(target, seconds=min(seconds, 5), connections=connections, clients=clients)
    for round_ in range(rounds):
        for name in OURS:
            for side in order if round_ % 2 == 0 else order[::-1]:
                by_name, pid = sides[side]
                figures = run_load(
                    by_name[name],
                    seconds=seconds,
                    connections=connections,
                    clients=clients,
                    server_pid=pid,
                )
                figures["load_average"] = round(os.getloadavg()[0], 2)
                results[side].setdefault(name, []).append(figures)
                print(
                    f"round {round_ + 1} {name:9} {side:6} {figures['rps']:8.1f} req/s  "
                    f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms  "
                    f"server {figures['server_cpu_us_per_request']:7.1f} us CPU/request",
                    flush=True,
                )
    return results

"""Playing BillBitts in the payment benchmarks: signed `payment.paid` deliveries, and the
`dpo` processes they are sent to, started and waited for.

bench/webhooks.py and bench/payments.py both sign with SECRET (the servers they start get it
as WEBHOOK_SECRET) and report percentiles with `pct`.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dpo.payments.events import encode
from dpo.payments.signature import HEADER, header_value

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-webhook-" + secrets.token_hex(16)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def spawn(
    args: list[str], env: dict[str, str], logs: Path, *, name: str = "web", tree: Path | None = None
) -> subprocess.Popen[bytes]:
    """`dpo ARGS`; from `tree` (first on sys.path as the working folder) when given."""
    log = (logs / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=tree or ROOT / "bench",
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_up(base: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            try:
                await client.get(base + "/api/health/")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise RuntimeError("dpo web did not start")


def delivery(reference: str) -> tuple[bytes, dict[str, str]]:
    """A signed `payment.paid` event (a fresh event id) paying the order `reference`."""
    body = encode(
        f"evt_bench_{secrets.token_hex(6)}",
        "payment.paid",
        int(time.time()),
        {
            "paymentId": f"pay_{reference.replace('-', '_')}",
            "reference": reference,
            "amount": "30",
            "currency": "EUR",
        },
    )
    return body, {
        HEADER: header_value([SECRET.encode()], int(time.time()), body),
        "Content-Type": "application/json",
    }

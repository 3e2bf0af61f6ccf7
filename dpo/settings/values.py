"""What the settings' validators share: the runbook's placeholders, rates, the error type."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic_settings import NoDecode

# Values the runbook shows as examples; in the environment they mean "not configured yet".
PLACEHOLDER = re.compile(r"^(your-[\w.-]*|0x\.\.\.|changeme|change-me|\.\.\.)$", re.IGNORECASE)
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
RATE = re.compile(r"^\s*([0-9]+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
CONTRACT_VARS = (
    "ISSUANCE_CONTRACT_ADDRESS",
    "STO_CONTRACT_ADDRESS",
    "DERIVATIVES_REPORTER_CONTRACT_ADDRESS",
    "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS",
)
_RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

CommaList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """A configuration problem, phrased as one line naming the variable."""


def is_placeholder(value: str | None) -> bool:
    """Tell whether a value is one of the runbook's example placeholders."""
    return value is not None and bool(PLACEHOLDER.match(value.strip()))


def parse_rate(value: str) -> tuple[int, int]:
    """Parse `100/min` into (requests, seconds)."""
    match = RATE.match(value)
    if not match:
        raise ValueError(f"must look like 100/min (N per s, min, hour or day), got {value!r}")
    return int(match.group(1)), _RATE_PERIODS[match.group(2)[0]]

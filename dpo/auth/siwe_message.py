"""The EIP-4361 message grammar: parse a Sign-In with Ethereum message, and write one.

Strict: every field checked against the EIP's grammar (digits ASCII only, dpo.inputs) and
the whole message bounded by MAX_MESSAGE_LENGTH, so the checks of dpo.auth.siwe work on a
message whose every field is well formed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_utils.address import is_checksum_address

from dpo.errors import ValidationError
from dpo.inputs import is_ascii_digits

MAX_MESSAGE_LENGTH = 4096
_HEADER = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"^[A-Za-z0-9]{8,64}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
# ASCII digits only: \d would also match '٢' (dpo.inputs).
_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_FIELDS = (
    "URI",
    "Version",
    "Chain ID",
    "Nonce",
    "Issued At",
    "Expiration Time",
    "Not Before",
    "Request ID",
)
_OPTIONAL = frozenset({"Expiration Time", "Not Before", "Request ID"})


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    version: str = "1"
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    scheme: str | None = None

    def format(self) -> str:
        """The exact text the wallet signs."""
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain}{_HEADER}", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {format_time(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, milliseconds only when present."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def _time(name: str, text: str) -> datetime:
    if not _TIME.match(text):
        raise ValidationError(f"{name} must be an RFC 3339 date-time", field="message")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name} is not a valid date-time", field="message") from None


def _bad(reason: str) -> ValidationError:
    return ValidationError(f"not a Sign-In with Ethereum message: {reason}", field="message")


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; ValidationError says what is wrong with it."""
    if len(text) > MAX_MESSAGE_LENGTH:
        raise _bad("too long")
    lines = text.split("\n")
    if not lines[0].endswith(_HEADER):
        raise _bad("the first line must end with" + _HEADER)
    if len(lines) < 5:
        raise _bad("too short")
    origin = lines[0][: -len(_HEADER)]
    scheme, _, domain = origin.rpartition("://")
    if (scheme and not _SCHEME.match(scheme)) or not _DOMAIN.match(domain):
        raise _bad("invalid domain")
    address = lines[1]
    if not is_checksum_address(address):
        raise _bad("the address must be an EIP-55 checksummed address")
    if lines[2] != "":
        raise _bad("expected an empty line after the address")
    statement: str | None = None
    index = 3
    if lines[3] != "":
        statement, index = lines[3], 4
        if lines[4] != "":
            raise _bad("the statement must be one line followed by an empty line")
    index += 1
    values: dict[str, str] = {}
    expected = list(_FIELDS)
    resources: list[str] = []
    while index < len(lines):
        line = lines[index]
        index += 1
        if line == "Resources:":
            resources = [item[2:] for item in lines[index:]]
            if not all(item.startswith("- ") and _URI.match(item[2:]) for item in lines[index:]):
                raise _bad("each resource must be a line '- URI'")
            break
        name, sep, value = line.partition(": ")
        while expected and expected[0] != name and expected[0] in _OPTIONAL:
            expected.pop(0)
        if not sep or not expected or expected[0] != name:
            raise _bad(f"unexpected line {line[:40]!r}")
        expected.pop(0)
        values[name] = value
    missing = [name for name in _FIELDS if name not in _OPTIONAL and name not in values]
    if missing:
        raise _bad("missing " + ", ".join(missing))
    if values["Version"] != "1":
        raise _bad("Version must be 1")
    if not is_ascii_digits(values["Chain ID"]) or len(values["Chain ID"]) > 20:
        raise _bad("Chain ID must be a number")
    if not _NONCE.match(values["Nonce"]):
        raise _bad("Nonce must be 8 or more letters and digits")
    if not _URI.match(values["URI"]):
        raise _bad("URI must be an absolute URI")
    return SiweMessage(
        domain=domain,
        address=address,
        uri=values["URI"],
        chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"],
        issued_at=_time("Issued At", values["Issued At"]),
        version="1",
        statement=statement,
        expiration_time=(
            _time("Expiration Time", values["Expiration Time"])
            if "Expiration Time" in values
            else None
        ),
        not_before=_time("Not Before", values["Not Before"]) if "Not Before" in values else None,
        request_id=values.get("Request ID"),
        resources=tuple(resources),
        scheme=scheme or None,
    )

"""EIP-4361 messages: grammar, round trip, every check, signature recovery."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from dpo.auth.siwe import check_message, expected_domain, recover_signer, verify_signature
from dpo.auth.siwe_message import SiweMessage, format_time, parse_message
from dpo.errors import UnauthenticatedError, ValidationError
from dpo.settings import ConfigError, Settings

ACCOUNT = Account.from_key("0x" + "11" * 32)
NOW = datetime(2026, 11, 29, 2, 0, 0, tzinfo=UTC)

# The example of EIP-4361 itself, with every field.
SPEC_EXAMPLE = """\
https://example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Expiration Time: 2021-10-30T16:25:24Z
Not Before: 2021-09-30T16:25:24.123Z
Request ID: some-id
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""

MINIMAL = """\
localhost:8000 wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2


URI: http://localhost:8000
Version: 1
Chain ID: 31337
Nonce: abcdef0123456789
Issued At: 2026-11-29T02:00:00Z"""


def message(**changes: object) -> SiweMessage:
    base = SiweMessage(
        domain="dpo.example",
        address=ACCOUNT.address,
        uri="https://dpo.example",
        chain_id=31337,
        nonce="abcdef0123456789",
        issued_at=NOW,
        statement="Sign in to DPO.",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_spec_example_parses() -> None:
    parsed = parse_message(SPEC_EXAMPLE)
    assert parsed.scheme == "https"
    assert parsed.domain == "example.com"
    assert parsed.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert parsed.statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos"
    assert parsed.uri == "https://example.com/login"
    assert (parsed.version, parsed.chain_id, parsed.nonce) == ("1", 1, "32891756")
    assert parsed.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert parsed.expiration_time == datetime(2021, 10, 30, 16, 25, 24, tzinfo=UTC)
    assert parsed.not_before == datetime(2021, 9, 30, 16, 25, 24, 123000, tzinfo=UTC)
    assert parsed.request_id == "some-id"
    assert len(parsed.resources) == 2


@pytest.mark.parametrize("text", [SPEC_EXAMPLE, MINIMAL])
def test_parse_format_round_trip(text: str) -> None:
    assert parse_message(text).format() == text


def test_format_parse_round_trip() -> None:
    original = message(
        expiration_time=NOW + timedelta(minutes=5),
        request_id="r1",
        resources=("https://dpo.example/terms",),
    )
    assert parse_message(original.format()) == original
    no_statement = message(statement=None)
    assert parse_message(no_statement.format()) == no_statement


def test_format_time() -> None:
    assert (
        format_time(datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"
    )
    tz = datetime(2026, 1, 2, 4, 4, 5, tzinfo=UTC).astimezone()
    assert format_time(tz) == "2026-01-02T04:04:05Z"


def _swap(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "first line"),
        (_swap(MINIMAL, "wants you to sign in", "wants to sign in"), "first line"),
        (_swap(MINIMAL, "localhost:8000 wants", "local host wants"), "domain"),
        (
            _swap(
                MINIMAL,
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
            ),
            "checksummed",
        ),
        (_swap(MINIMAL, "Version: 1", "Version: 2"), "Version"),
        (_swap(MINIMAL, "Chain ID: 31337", "Chain ID: x"), "Chain ID"),
        (_swap(MINIMAL, "Nonce: abcdef0123456789", "Nonce: abc"), "Nonce"),
        (_swap(MINIMAL, "Nonce: abcdef0123456789", "Nonce: abcd-ef01-2345"), "Nonce"),
        (_swap(MINIMAL, "Issued At: 2026-11-29T02:00:00Z", "Issued At: yesterday"), "RFC 3339"),
        (
            _swap(MINIMAL, "Issued At: 2026-11-29T02:00:00Z", "Issued At: 2026-13-29T02:00:00Z"),
            "valid date",
        ),
        (_swap(MINIMAL, "URI: http://localhost:8000\n", ""), "unexpected line"),
        (_swap(MINIMAL, "\nIssued At: 2026-11-29T02:00:00Z", ""), "missing Issued At"),
        (_swap(MINIMAL, "URI: http://localhost:8000", "URI: not a uri"), "URI"),
        (
            _swap(MINIMAL, "Version: 1\nChain ID: 31337", "Chain ID: 31337\nVersion: 1"),
            "unexpected line",
        ),
        (MINIMAL + "\nNonce: again12345", "unexpected line"),
        (MINIMAL + "\nResources:\n- not a uri", "resource"),
        (_swap(MINIMAL, "\n\n\nURI", "\n\nstatement\nURI"), "statement"),
        ("x" * 5000, "too long"),
    ],
)
def test_malformed_messages_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        parse_message(text)


def test_checks_pass_for_a_good_message() -> None:
    check_message(message(), domain="dpo.example", chain_id=31337, now=NOW)
    check_message(message(domain="dpo.example:8443"), domain="dpo.example", chain_id=31337, now=NOW)


@pytest.mark.parametrize(
    ("changes", "domain", "reason"),
    [
        ({"domain": "evil.example"}, "dpo.example", "another domain"),
        ({"domain": "dpo.example:1"}, "dpo.example:2", "another domain"),
        ({"chain_id": 1}, "dpo.example", "chain 1"),
        ({"issued_at": NOW + timedelta(minutes=2)}, "dpo.example", "future"),
        ({"expiration_time": NOW}, "dpo.example", "expired"),
        ({"not_before": NOW + timedelta(minutes=2)}, "dpo.example", "not valid yet"),
    ],
)
def test_each_check_refuses(changes: dict[str, object], domain: str, reason: str) -> None:
    with pytest.raises(UnauthenticatedError, match=reason):
        check_message(message(**changes), domain=domain, chain_id=31337, now=NOW)


def test_small_clock_skew_is_tolerated() -> None:
    check_message(
        message(issued_at=NOW + timedelta(seconds=30)),
        domain="dpo.example",
        chain_id=31337,
        now=NOW,
    )


def _sign(text: str, account: object = ACCOUNT) -> str:
    signed = Account.sign_message(encode_defunct(text=text), private_key=account.key)  # type: ignore[attr-defined]
    return "0x" + bytes(signed.signature).hex()


def test_signature_recovers_the_signer() -> None:
    text = message().format()
    assert recover_signer(text, _sign(text)) == ACCOUNT.address
    verify_signature(message(), text, _sign(text))


@pytest.mark.parametrize("signature", ["", "0x", "0x1234", "zz" * 65, "0x" + "00" * 65])
def test_garbage_signatures_are_refused(signature: str) -> None:
    with pytest.raises(UnauthenticatedError, match="signature"):
        verify_signature(message(), message().format(), signature)


def test_signature_by_someone_else_is_refused() -> None:
    text = message().format()
    other = Account.from_key("0x" + "22" * 32)
    with pytest.raises(UnauthenticatedError, match="signature"):
        verify_signature(message(), text, _sign(text, other))


def test_signature_of_other_text_is_refused() -> None:
    text = message().format()
    with pytest.raises(UnauthenticatedError, match="signature"):
        verify_signature(message(), text, _sign(text + " "))


def _settings(**values: str) -> Settings:
    return Settings.model_validate(values)


def test_expected_domain() -> None:
    assert (
        expected_domain(
            _settings(SIWE_DOMAIN="app.dpo.example", ALLOWED_HOSTS="api.dpo.example"),
            request_host="x",
        )
        == "app.dpo.example"
    )
    assert (
        expected_domain(_settings(ALLOWED_HOSTS=".railway.app,api.dpo.example"), request_host="x")
        == "api.dpo.example"
    )
    assert expected_domain(_settings(), request_host="127.0.0.1:8000") == "127.0.0.1:8000"
    with pytest.raises(ConfigError, match="SIWE_DOMAIN"):
        expected_domain(
            _settings(ENVIRONMENT="production", ALLOWED_HOSTS=".railway.app"),
            request_host="evil.example",
        )

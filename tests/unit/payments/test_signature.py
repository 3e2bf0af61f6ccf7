"""The BillBitts-Signature header: parsing, the time window, rotation, forgery."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpo.payments.signature import (
    MAX_ENTRIES,
    TOLERANCE,
    SignatureError,
    compute,
    header_value,
    parse_header,
    verify,
)

SECRET = b"whsec-test-secret"
OLD = b"whsec-old-secret"
BODY = b'{"id":"evt_1","type":"payment.paid","created":1,"data":{}}'
NOW = 1_764_877_000


def test_a_correct_signature_verifies() -> None:
    header = header_value([SECRET], NOW, BODY)
    assert verify(header, BODY, secrets=[SECRET], now=NOW) == NOW


def test_the_signature_is_hmac_sha256_over_t_dot_body() -> None:
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute(SECRET, NOW, BODY) == expected
    assert verify(f"t={NOW},v1={expected}", BODY, secrets=[SECRET], now=NOW) == NOW


def test_uppercase_hex_and_spaces_are_accepted() -> None:
    sig = compute(SECRET, NOW, BODY).upper()
    assert verify(f" t={NOW} , v1={sig} ", BODY, secrets=[SECRET], now=NOW) == NOW


@pytest.mark.parametrize("order", [[OLD, SECRET], [SECRET, OLD]])
def test_rotation_any_v1_matching_is_enough(order: list[bytes]) -> None:
    assert verify(header_value(order, NOW, BODY), BODY, secrets=[SECRET], now=NOW) == NOW


def test_several_secrets_of_ours_accepted() -> None:
    header = header_value([OLD], NOW, BODY)
    assert verify(header, BODY, secrets=[SECRET, OLD], now=NOW) == NOW


def test_unknown_schemes_are_ignored() -> None:
    header = f"t={NOW},v0=abc,v1={compute(SECRET, NOW, BODY)},v2=zzz"
    assert verify(header, BODY, secrets=[SECRET], now=NOW) == NOW


@pytest.mark.parametrize(
    "mutate",
    [lambda b: b + b" ", lambda b: b[:-1], lambda b: b.replace(b"paid", b"pain"), lambda b: b""],
)
def test_a_changed_body_is_a_mismatch(mutate: object) -> None:
    header = header_value([SECRET], NOW, BODY)
    with pytest.raises(SignatureError) as caught:
        verify(header, mutate(BODY), secrets=[SECRET], now=NOW)  # type: ignore[operator]
    assert caught.value.reason == "mismatch"
    assert caught.value.status == 401


def test_another_secret_is_a_mismatch() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(header_value([b"forger"], NOW, BODY), BODY, secrets=[SECRET], now=NOW)
    assert caught.value.reason == "mismatch"


def test_signature_for_another_timestamp_is_a_mismatch() -> None:
    sig = compute(SECRET, NOW - 1, BODY)
    with pytest.raises(SignatureError) as caught:
        verify(f"t={NOW},v1={sig}", BODY, secrets=[SECRET], now=NOW)
    assert caught.value.reason == "mismatch"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(-TOLERANCE - 1, "stale"), (TOLERANCE + 1, "future"), (-(10**6), "stale"), (10**6, "future")],
)
def test_outside_the_window_is_refused_even_if_signed(offset: int, reason: str) -> None:
    header = header_value([SECRET], NOW + offset, BODY)
    with pytest.raises(SignatureError) as caught:
        verify(header, BODY, secrets=[SECRET], now=NOW)
    assert caught.value.reason == reason
    assert caught.value.status == 401


@pytest.mark.parametrize("offset", [-TOLERANCE, TOLERANCE, 0])
def test_the_window_edges_are_inside(offset: int) -> None:
    header = header_value([SECRET], NOW + offset, BODY)
    assert verify(header, BODY, secrets=[SECRET], now=NOW) == NOW + offset


GOOD = "a" * 64


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "t=1",
        f"v1={GOOD}",
        f"t=,v1={GOOD}",
        f"t=abc,v1={GOOD}",
        f"t=-5,v1={GOOD}",
        f"t=1.5,v1={GOOD}",
        f"t=1,t=2,v1={GOOD}",
        "t=1,v1=",
        "t=1,v1=zz",
        f"t=1,v1={'a' * 63}",
        f"t=1,v1={'a' * 65}",
        f"t=1;v1={GOOD}",
        f"t=1,v1 {GOOD}",
        f"t=1,,v1={GOOD}",
        f"t=١٢٣,v1={GOOD}",
        f"t=1,v1={GOOD},",
        f"t=1,v1={GOOD}" + ",x=1" * 20,
        "t=1,v1=" + "a" * 5000,
        f"t=1234567890123,v1={GOOD}",
        "ü=1",
        f"T=1,V1={GOOD}",
    ],
)
def test_malformed_headers_are_400(header: str | None) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(header, BODY, secrets=[SECRET], now=NOW)
    assert caught.value.reason in ("missing", "malformed")
    assert caught.value.status == 400


def test_too_many_entries_are_refused_before_any_hmac() -> None:
    header = ",".join([f"t={NOW}", *[f"v1={GOOD}"] * MAX_ENTRIES])
    with pytest.raises(SignatureError) as caught:
        parse_header(header)
    assert caught.value.reason == "malformed"


def test_no_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        verify(header_value([SECRET], NOW, BODY), BODY, secrets=[], now=NOW)
    with pytest.raises(ValueError, match="no webhook secret"):
        verify(header_value([SECRET], NOW, BODY), BODY, secrets=[b""], now=NOW)


def test_errors_never_carry_the_secret_or_the_expected_signature() -> None:
    expected = compute(SECRET, NOW, BODY)
    with pytest.raises(SignatureError) as caught:
        verify(f"t={NOW},v1={'0' * 64}", BODY, secrets=[SECRET], now=NOW)
    text = str(caught.value) + repr(caught.value)
    assert SECRET.decode() not in text
    assert expected not in text


@given(st.text(max_size=300))
def test_any_text_is_refused_cleanly(header: str) -> None:
    with pytest.raises(SignatureError):
        verify(header, BODY, secrets=[SECRET], now=NOW)


@given(st.binary(max_size=200), st.integers(min_value=NOW - TOLERANCE, max_value=NOW + TOLERANCE))
def test_any_body_signed_verifies_and_any_other_body_does_not(body: bytes, when: int) -> None:
    header = header_value([SECRET], when, body)
    assert verify(header, body, secrets=[SECRET], now=NOW) == when
    with pytest.raises(SignatureError):
        verify(header, body + b"x", secrets=[SECRET], now=NOW)

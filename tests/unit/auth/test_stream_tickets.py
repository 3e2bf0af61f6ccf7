"""Stream tickets' pure parts: the ticket's shape and seal, its expiry, and log redaction."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpo.auth.stream_tickets import (
    PREFIX,
    TICKET_LENGTH,
    TicketError,
    check,
    encode,
    refuse_ticket,
    ticket_key,
    ticket_of,
)
from dpo.errors import UnauthenticatedError
from dpo.logs import REDACTED, JsonLineFormatter, RequestIdFilter, TextFormatter, redact_tickets

KEY = ticket_key("k" * 50)
NOW = 1_800_000_000


def minted(expires_at: int = NOW + 60, key: bytes = KEY) -> str:
    return encode(key, expires_at=expires_at, nonce=secrets.token_bytes(16))


def reason(value: object, *, now: float = NOW) -> str:
    with pytest.raises(TicketError) as caught:
        check(KEY, value, now=now)
    assert caught.value.code == "UNAUTHENTICATED"
    return caught.value.reason


def test_a_ticket_names_nobody_and_checks_until_it_expires() -> None:
    ticket = minted()
    assert ticket.startswith(PREFIX)
    assert len(ticket) == TICKET_LENGTH
    name = check(KEY, ticket, now=NOW + 59.999)
    assert name.startswith("dpo:stream-ticket:")
    assert reason(ticket, now=NOW + 60) == "expired"
    assert reason(minted(key=ticket_key("another key" * 5))) == "invalid"
    assert ticket_key("k" * 50) != ("k" * 50).encode()  # derived, never the secret key itself


@given(st.integers(min_value=0, max_value=TICKET_LENGTH - 1), st.data())
def test_any_change_to_a_ticket_makes_it_invalid(position: int, data: st.DataObject) -> None:
    ticket = minted()
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_").filter(
            lambda c: c != ticket[position]
        )
    )
    changed = ticket[:position] + replacement + ticket[position + 1 :]
    assert reason(changed) == "invalid"


@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=80),
        st.none(),
        st.integers(),
        st.text(max_size=60).map(lambda t: PREFIX + t),
    )
)
def test_anything_that_is_not_a_minted_ticket_is_invalid(value: object) -> None:
    assert reason(value) == "invalid"


def test_tickets_are_found_in_query_strings_and_refused_outside_streams() -> None:
    assert ticket_of(b"query=x&ticket=abc") == "abc"
    assert ticket_of(b"ticket=&query=x") == ""  # blank still counts: refused, not ignored
    assert ticket_of(b"%74icket=abc") == "abc"
    assert ticket_of(b"tickets=abc&query=ticket") is None
    refuse_ticket(b"query=%7B%20viewer%20%7D")
    with pytest.raises(UnauthenticatedError) as caught:
        refuse_ticket(b"query=x&ticket=abc")
    assert caught.value.details == {"reason": "ticket_not_accepted"}


names = st.sampled_from(["ticket", "TICKET", "%74icket", "t%69cket", "ticke%74", "%74%69cket"])
others = st.lists(
    st.tuples(st.sampled_from(["query", "variables", "x"]), st.text("abc%=+ {}", max_size=10)),
    max_size=3,
)


@given(names, others, others)
def test_no_spelling_of_the_ticket_parameter_reaches_a_log(
    name: str, before: list[tuple[str, str]], after: list[tuple[str, str]]
) -> None:
    ticket = minted()
    parts = (
        [f"{k}={quote(v)}" for k, v in before]
        + [f"{name}={ticket}"]
        + [f"{k}={quote(v)}" for k, v in after]
    )
    line = f'127.0.0.1:5 - "GET /graphql?{"&".join(parts)} HTTP/1.1" 200'
    assert ticket_of("&".join(parts).encode()) in (ticket, None)
    cleaned = redact_tickets(line)
    assert ticket not in cleaned
    assert REDACTED in cleaned
    for key, value in before + after:
        assert f"{key}={quote(value)}" in cleaned  # the rest stays readable


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonLineFormatter()])
def test_both_log_formats_blank_tickets_in_access_log_records(formatter: logging.Formatter) -> None:
    ticket = minted()
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/graphql?ticket={ticket}&x=1", "1.1", 200),
        None,
    )
    RequestIdFilter().filter(record)
    line = formatter.format(record)
    assert ticket not in line
    assert f"/graphql?ticket={REDACTED}&x=1" in line

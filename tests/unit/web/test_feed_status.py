"""The feed state a checkpoint row stands for, and the doorbell's status messages (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dpo.streaming.status import FeedState, is_status_message, status_of
from listener.publish import feed_message, status_message

NOW = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


def row(halted_at: datetime | None, reason: str | None) -> dict[str, object]:
    return {
        "last_processed_block": 41,
        "updated_at": NOW,
        "halted_at": halted_at,
        "halted_reason": reason,
    }


def test_no_checkpoint_is_not_started() -> None:
    status = status_of(7, None)
    assert (status.chain_id, status.state, status.last_block) == (7, FeedState.NOT_STARTED, None)
    assert "not committed" in status.message


def test_a_halted_row_is_halted_at_its_block_with_its_reason() -> None:
    reason = "deep reorg; `dpo listener --rewind 30`"
    status = status_of(7, row(NOW, reason))
    assert (status.state, status.last_block, status.reason) == (FeedState.HALTED, 41, reason)
    assert "halted at block 41" in status.message
    assert "LIVE again" in status.message


def test_a_reason_without_a_halt_is_not_shown() -> None:
    status = status_of(7, row(None, "left over"))
    assert (status.state, status.reason) == (FeedState.LIVE, None)


def test_only_the_state_the_halt_and_the_reason_make_a_change() -> None:
    first = status_of(7, row(None, None))
    moved = status_of(7, {**row(None, None), "last_processed_block": 99, "updated_at": None})
    assert first.key == moved.key
    assert status_of(7, row(NOW, "a")).key != status_of(7, row(NOW, "b")).key


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (json.loads(status_message(chain_id=1, status="halted")), True),
        (json.loads(status_message(chain_id=1, status="live")), True),
        (json.loads(feed_message(chain_id=1, first_seq=1, last_seq=2)), False),
        ({"status": "halted", "first": 1, "last": 2}, False),  # feed ids win: read them
        ({"chain_id": 1}, False),
        ([], False),
        ("status", False),
        (None, False),
    ],
)
def test_status_messages_are_told_apart_from_feed_doorbells(
    message: object, expected: bool
) -> None:
    assert is_status_message(message) is expected

"""`dpo up --demo`'s BillBitts secrets: made once, kept private, never replacing given ones."""

from __future__ import annotations

import stat
from pathlib import Path

from app.cli.up import demo_payments
from dpo.providers.billbitts_signing import read_private_key


def test_a_key_is_made_once_and_readable_only_by_us(tmp_path: Path) -> None:
    first = demo_payments({}, tmp_path)
    path = Path(first["BILLBITTS_PRIVATE_KEY_PATH"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    read_private_key(path)  # a usable signing key
    content = path.read_bytes()
    second = demo_payments({}, tmp_path)
    assert second == first
    assert path.read_bytes() == content
    assert first["WEBHOOK_SECRET"]


def test_given_values_are_kept(tmp_path: Path) -> None:
    values = demo_payments(
        {"WEBHOOK_SECRET": "mine", "BILLBITTS_PRIVATE_KEY_PATH": "/k.pem"}, tmp_path
    )
    assert values == {"WEBHOOK_SECRET": "mine"}
    assert list(tmp_path.iterdir()) == []

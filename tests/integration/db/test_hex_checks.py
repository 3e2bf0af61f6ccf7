"""The fast hex format checks (migration 0003) refuse exactly what the regex form refused."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.feed import next_feed_sequences
from tests.integration.db import factories as make
from tests.integration.db.test_constraints import refused, saved

GOOD_HASH = "0x" + "aB09" * 16
BAD_HASHES = [
    "0x" + "g" * 64,  # not hex
    "0x" + "a" * 63,  # one digit short
    "0X" + "a" * 64,  # wrong prefix
    "0x" + "é" * 64,  # 66 characters, not hex
    " 0x" + "a" * 63,  # leading space
    "0x" + "a" * 63 + "\n",  # trailing newline
    "0x" + "a" * 62 + "0x",  # prefix repeated inside
    "",
]
BAD_ADDRESSES = ["0x" + "a" * 39, "0x" + "z" * 40, "1x" + "a" * 40, "0x" + "a" * 39 + " "]


async def test_good_values_pass(db: AsyncSession) -> None:
    (seq,) = await next_feed_sequences(db, 1)
    await saved(
        db,
        make.chain_event(
            seq, block_hash=GOOD_HASH, tx_hash=GOOD_HASH.lower(), contract_address="0x" + "Ab" * 20
        ),
    )


@pytest.mark.parametrize("bad", BAD_HASHES)
async def test_bad_hashes_are_refused(db: AsyncSession, bad: str) -> None:
    seqs = await next_feed_sequences(db, 2)
    await refused(
        db, "ck_chain_events_block_hash_format", make.chain_event(seqs[0], block_hash=bad)
    )
    await refused(db, "ck_chain_events_tx_hash_format", make.chain_event(seqs[1], tx_hash=bad))


@pytest.mark.parametrize("bad", BAD_ADDRESSES)
async def test_bad_addresses_are_refused(db: AsyncSession, bad: str) -> None:
    (seq,) = await next_feed_sequences(db, 1)
    await refused(
        db, "ck_chain_events_contract_address_format", make.chain_event(seq, contract_address=bad)
    )

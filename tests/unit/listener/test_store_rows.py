"""prepare_batch: order, duplicates, block times, projected events and refused batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from listener.decode import DecodedLog
from listener.store_rows import PreparedBatch, concat_rows, join_batches, prepare_batch
from listener.store_types import Batch, BlockHeader, ReorgDetectedError, StoreError


def h(tag: str, n: int) -> str:
    return "0x" + f"{tag}{n}".encode().hex().ljust(64, "0")


def log(
    block: int,
    index: int,
    event: str = "Transfer",
    *,
    timestamp: int | None = None,
    block_hash: str | None = None,
    removed: bool = False,
) -> DecodedLog:
    return DecodedLog(
        chain_id=7,
        contract_address="0x" + "ab" * 20,
        contract_name="Issuance",
        event_name=event,
        block_number=block,
        block_hash=block_hash or h("b", block),
        tx_hash=h("t", block * 100 + index),
        tx_index=0,
        log_index=index,
        args={"n": str(index)},
        removed=removed,
        block_timestamp=timestamp,
    )


def header(n: int) -> BlockHeader:
    return BlockHeader(n, h("b", n), h("b", n - 1), 1_700_000_000 + n)


def test_logs_are_ordered_deduplicated_and_given_rows_without_ids() -> None:
    logs = [log(3, 1), log(2, 5, "Paused"), log(3, 0), log(3, 1)]
    prepared = prepare_batch(Batch(7, 2, 3, [header(3)], [*logs, log(2, 6, timestamp=99)]))
    assert [(g.block_number, g.log_index) for g in prepared.logs] == [
        (2, 5),
        (2, 6),
        (3, 0),
        (3, 1),
    ]
    assert prepared.keys == [(g.block_hash, g.tx_hash, g.log_index) for g in prepared.logs]
    # Paused changes no projection; Transfer does.
    assert prepared.projected == [1, 2, 3]
    # Block 3's time comes from its header; block 2 has none, so from the log (or None).
    assert prepared.times == [
        None,
        datetime.fromtimestamp(99, UTC),
        datetime.fromtimestamp(1_700_000_003, UTC),
        datetime.fromtimestamp(1_700_000_003, UTC),
    ]
    first = prepared.tails[2]
    assert first[:6] == (7, "0x" + "ab" * 20, "Issuance", "Transfer", 3, h("b", 3))
    assert first[6:] == (prepared.times[2], h("t", 300), 0, 0, '{"n":"0"}', False, None, None)


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        (Batch(7, 3, 2, [header(2)], []), StoreError),
        (Batch(7, 1, 2, [header(1)], []), StoreError),
        (Batch(7, 1, 2, [header(2)], [log(3, 0)]), StoreError),
        (Batch(8, 1, 2, [header(2)], [log(2, 0)]), StoreError),
        (Batch(7, 1, 2, [header(2)], [log(2, 0, removed=True)]), ReorgDetectedError),
        (Batch(7, 1, 2, [header(2)], [log(2, 0, block_hash=h("x", 2))]), ReorgDetectedError),
    ],
)
def test_batches_that_must_not_be_applied_are_refused(batch: Batch, error: type[Exception]) -> None:
    with pytest.raises(error):
        prepare_batch(batch)


def test_consecutive_batches_join_into_one_with_rows_in_order() -> None:
    first = Batch(7, 1, 2, [header(2)], [log(2, 0, "Paused"), log(1, 0)])
    second = Batch(7, 3, 3, [header(3)], [log(3, 1), log(3, 0, "Paused")])
    batch, rows = join_batches((first, prepare_batch(first)), (second, prepare_batch(second)))
    whole = prepare_batch(Batch(7, 1, 3, [header(2), header(3)], first.logs + second.logs))
    assert (batch.from_block, batch.to_block) == (1, 3)
    assert rows == whole
    assert rows.projected == [0, 3]
    with pytest.raises(StoreError):
        join_batches((second, prepare_batch(second)), (first, prepare_batch(first)))


def test_slices_prepared_apart_concatenate_only_when_in_order() -> None:
    logs = [log(1, 0), log(1, 1, "Paused"), log(2, 0), log(2, 3)]
    batch = Batch(7, 1, 2, [header(1), header(2)], logs)

    def part(*chosen: DecodedLog) -> PreparedBatch:
        return prepare_batch(Batch(7, 1, 2, batch.blocks, list(chosen)))

    whole = prepare_batch(batch)
    assert concat_rows([part(*logs[:2]), part(), part(*logs[2:])]) == whole
    assert concat_rows([part(*logs[2:]), part(), part(*logs[:2])]) is None
    assert concat_rows([part(*logs[:3]), part(*logs[2:])]) is None  # overlapping slices

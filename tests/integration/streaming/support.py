"""Writing feed items the way the listener does: ingest_batch, then the doorbell."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.channels import Channels
from listener.decode import DecodedLog
from listener.publish import feed_message
from listener.store import Batch, BlockHeader, ingest_batch

CHAIN = 31337
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
ZERO = "0x" + "0" * 40


def block_hash(number: int) -> str:
    return f"0x{number:064x}"


async def seed_offering(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An issuer and offering 1 whose token is TOKEN (the Transfer projection needs it)."""
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO issuers (id, name) VALUES (1, 'Issuer')"))
        await session.execute(
            text(
                "INSERT INTO offerings (id, issuer_id, isin, name, symbol, security_type, "
                "regulation, currency, unit_price, token_address) VALUES (1, 1, 'DE000A1B2C35', "
                "'Bond', 'BND', 'debt', 'reg_s', 'EUR', 100, :t)"
            ),
            {"t": TOKEN},
        )


@dataclass
class FakeChain:
    """Consecutive blocks of Transfer logs stored through the listener's ingest_batch."""

    sessions: async_sessionmaker[AsyncSession]
    next_block: int = 1
    published: list[tuple[int, int]] = field(default_factory=list)

    def transfer(
        self,
        block: int,
        index: int,
        to: str,
        *,
        contract: str = TOKEN,
        event: str = "Transfer",
        memo: str | None = None,
    ) -> DecodedLog:
        args: dict[str, Any] = {"from": ZERO, "to": to, "value": str(index + 1)}
        if memo is not None:
            args["memo"] = memo
        return DecodedLog(
            chain_id=CHAIN,
            contract_address=contract,
            contract_name="Issuance",
            event_name=event,
            block_number=block,
            block_hash=block_hash(block),
            tx_hash=f"0x{block:032x}{index:032x}",
            tx_index=0,
            log_index=index,
            args=args,
        )

    async def emit(
        self,
        count: int,
        *,
        to: str = ALICE,
        memo: str | None = None,
        contract: str = TOKEN,
        event: str = "Transfer",
        redis: Any = None,
        channel: str | None = None,
    ) -> tuple[int, int]:
        """Store `count` Transfers in one new block; ring the doorbell when given Redis."""
        number = self.next_block
        self.next_block += 1
        header = BlockHeader(number, block_hash(number), block_hash(number - 1), 1_700_000_000)
        logs = [
            self.transfer(number, i, to, contract=contract, event=event, memo=memo)
            for i in range(count)
        ]
        result = await ingest_batch(
            self.sessions, Batch(CHAIN, number, number, [header], logs), reorg_window=1000
        )
        assert result.first_seq is not None
        assert result.last_seq is not None
        span = (result.first_seq, result.last_seq)
        if redis is not None:
            # By default the channel a deployment on this client's database listens to.
            db = int(redis.connection_pool.connection_kwargs.get("db") or 0)
            await redis.publish(
                channel or Channels(db=db).feed,
                # `seen` as the listener sends it for the tip's batch (dpo_feed_frame_seconds).
                feed_message(
                    chain_id=CHAIN, first_seq=span[0], last_seq=span[1], seen_at=time.time()
                ),
            )
        self.published.append(span)
        return span

"""A request's loaders are built on first use: a request that loads nothing builds none."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from strawberry.dataloader import DataLoader

from dpo.db.pooled_reads import pooled_reads
from resolvers.issuer_loaders import IssuerOfferingLoaders
from resolvers.loaders import RequestLoaders


async def test_loaders_are_built_on_first_use_once() -> None:
    engine = create_async_engine("postgresql+asyncpg://127.0.0.1:1/none")  # never connects
    loaders = RequestLoaders(
        async_sessionmaker(), shared=True, connections=lambda: pooled_reads(engine)
    )
    built = [v for v in vars(loaders).values() if isinstance(v, DataLoader | IssuerOfferingLoaders)]
    assert built == []
    issuer = loaders.issuer
    assert isinstance(issuer, DataLoader)
    assert loaders.issuer is issuer  # one per request: its batch and cache are shared
    assert loaders.offering is not issuer
    assert loaders.issuer_offerings is loaders.issuer_offerings
    names = {"issuer", "offering", "issuer_offerings"}
    assert {k for k, v in vars(loaders).items() if not k.startswith("_")} == names
    await loaders.close()  # no connection was checked out: nothing to give back

"""A request's loaders are built on first use: a request that loads nothing builds none."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from strawberry.dataloader import DataLoader

from resolvers.issuer_loaders import IssuerOfferingLoaders
from resolvers.loaders import RequestLoaders


async def test_loaders_are_built_on_first_use_once() -> None:
    loaders = RequestLoaders(async_sessionmaker(), shared=True)
    built = [v for v in vars(loaders).values() if isinstance(v, DataLoader | IssuerOfferingLoaders)]
    assert built == []
    issuer = loaders.issuer
    assert isinstance(issuer, DataLoader)
    assert loaders.issuer is issuer  # one per request: its batch and cache are shared
    assert loaders.offering is not issuer
    assert loaders.issuer_offerings is loaders.issuer_offerings
    names = {"issuer", "offering", "issuer_offerings"}
    assert {k for k, v in vars(loaders).items() if not k.startswith("_")} == names
    await loaders.close()  # no session was opened: nothing to give back

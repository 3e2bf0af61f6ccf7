"""Per-request loaders of issuers' offering pages and counts, batched across a page of issuers.

Keys are (issuer id, spec): every issuer asked with the same arguments shares one statement,
so a page of issuers with their offerings costs the same statements at any size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from dpo.auth.principal import Principal
from dpo.services import issuers
from dpo.services.issuers import OfferingPageSpec
from dpo.services.pagination import Page
from schema.context import CountKey, PageKey

SessionOf = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class IssuerOfferingLoaders:
    """Offering pages and counts per issuer for one request (schema.context.IssuerOfferingLoads)."""

    def __init__(self, session: SessionOf) -> None:
        self._session = session
        self.pages: DataLoader[PageKey, Page] = DataLoader(load_fn=self._pages)
        self.counts: DataLoader[CountKey, int] = DataLoader(load_fn=self._counts)

    async def _pages(self, keys: list[PageKey]) -> Sequence[Page]:
        groups: dict[tuple[OfferingPageSpec, Principal], list[int]] = defaultdict(list)
        for issuer_id, spec, principal in keys:
            groups[(spec, principal)].append(issuer_id)
        found: dict[PageKey, Page] = {}
        for (spec, principal), ids in groups.items():
            async with self._session() as session:
                pages = await issuers.list_offering_pages(
                    session, principal=principal, issuer_ids=ids, spec=spec
                )
            found.update({(i, spec, principal): pages[i] for i in ids})
        return [found[key] for key in keys]

    async def _counts(self, keys: list[CountKey]) -> Sequence[int]:
        groups: dict[tuple[str | None, Principal], list[int]] = defaultdict(list)
        for issuer_id, status, principal in keys:
            groups[(status, principal)].append(issuer_id)
        found: dict[CountKey, int] = {}
        for (status, principal), ids in groups.items():
            async with self._session() as session:
                counts = await issuers.count_offerings_by_issuer(
                    session, principal=principal, issuer_ids=ids, status=status
                )
            found.update({(i, status, principal): counts[i] for i in ids})
        return [found[key] for key in keys]

"""Who is calling: the identity every permission check looks at."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """How the caller authenticated."""

    ANONYMOUS = "anonymous"
    WALLET = "wallet"
    STAFF = "staff"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; ANONYMOUS when no credential was given."""

    kind: Kind = Kind.ANONYMOUS
    role: str = "anonymous"
    user_id: int | None = None
    investor_id: int | None = None
    issuer_id: int | None = None
    address: str | None = None
    api_key_prefix: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_authenticated(self) -> bool:
        """Whether any credential was presented and verified."""
        return self.kind is not Kind.ANONYMOUS

    @property
    def actor(self) -> str:
        """The audit-log form of the caller, e.g. 'user:42' or 'api_key:ab12cd'."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.api_key_prefix is not None:
            return f"api_key:{self.api_key_prefix}"
        if self.address is not None:
            return f"wallet:{self.address}"
        return "anonymous"


ANONYMOUS = Principal()
